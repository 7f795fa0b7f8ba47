#include "turnpike/diag/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace turnpike::diag {

std::string write_tar_gz(const std::string& path, const std::vector<ArchiveEntry>& entries,
                         std::int64_t unix_seconds) {
  const std::string tmp = path + ".partial";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  std::string err;
  auto check = [&](int rc, const char* what) {
    if (rc == ARCHIVE_OK || !err.empty()) return err.empty();
    err = std::string(what) + ": " + (archive_error_string(a.get()) ? archive_error_string(a.get()) : "failed");
    return false;
  };
  bool ok = a && check(archive_write_add_filter_gzip(a.get()), "gzip") &&
            check(archive_write_set_format_pax_restricted(a.get()), "tar format") &&
            check(archive_write_open_fd(a.get(), fd), "open");
  for (const auto& e : entries) {
    if (!ok) break;
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> en(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(en.get(), e.name.c_str());
    archive_entry_set_size(en.get(), static_cast<la_int64_t>(e.data.size()));
    archive_entry_set_filetype(en.get(), AE_IFREG);
    archive_entry_set_perm(en.get(), 0600);
    archive_entry_set_mtime(en.get(), static_cast<time_t>(unix_seconds), 0);
    ok = check(archive_write_header(a.get(), en.get()), e.name.c_str());
    if (ok && !e.data.empty() &&
        archive_write_data(a.get(), e.data.data(), e.data.size()) != static_cast<la_ssize_t>(e.data.size())) {
      err = e.name + ": " + (archive_error_string(a.get()) ? archive_error_string(a.get()) : "short write");
      ok = false;
    }
  }
  if (ok) ok = check(archive_write_close(a.get()), "close");
  a.reset();
  if (ok && ::fsync(fd) != 0) {
    err = "fsync " + tmp + ": " + std::strerror(errno);
    ok = false;
  }
  ::close(fd);
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = "rename to " + path + ": " + std::strerror(errno);
    ok = false;
  }
  if (!ok) ::unlink(tmp.c_str());
  return ok ? std::string{} : err;
}

}  // namespace turnpike::diag
