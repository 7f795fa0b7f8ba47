// The snapshot's tar.gz, written with libarchive from memory: nothing the
// archive holds (key log, captures) lands in a temporary file first.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace turnpike::diag {

struct ArchiveEntry {
  std::string name;  // flat, no directories
  std::string data;
};

// Writes `path` (mode 0600, created exclusively under a temporary name and
// renamed into place when complete, so a reader never sees half an archive).
// Entries are mode 0600 with mtime `unix_seconds`. "" on success, else why.
std::string write_tar_gz(const std::string& path, const std::vector<ArchiveEntry>& entries,
                         std::int64_t unix_seconds);

}  // namespace turnpike::diag
