// Diagnostics snapshot pieces without an EAL: the capture buffer's bounds,
// the pcapng blocks (walked back block by block), the tar.gz writer.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>

#include "turnpike/diag/archive.hpp"
#include "turnpike/diag/capture.hpp"
#include "turnpike/diag/pcapng.hpp"

using namespace turnpike::diag;

namespace {

std::uint8_t* put(CaptureBuffer& c, std::uint32_t len, std::uint8_t fill, Dir d = Dir::In) {
  std::uint32_t cl = 0;
  std::uint8_t* p = c.reserve(0, d, 1, len, cl);
  if (p) std::memset(p, fill, cl);
  return p;
}

std::uint32_t le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(s[at + static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

TEST(Capture, StopsAtThePacketBoundAndCountsTheRest) {
  CaptureBuffer c({1 << 16, 3, 65535});
  for (int i = 0; i < 5; ++i) put(c, 100, static_cast<std::uint8_t>(i));
  ASSERT_EQ(c.frames().size(), 3u);
  EXPECT_EQ(c.dropped_packets(), 2u);
  EXPECT_EQ(c.dropped_bytes(), 200u);
  // The first frames are kept, in order, with their own bytes.
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(c.bytes(c.frames()[i])[50], i);
}

TEST(Capture, StopsAtTheByteBound) {
  CaptureBuffer c({250, 100, 65535});
  EXPECT_NE(put(c, 100, 1), nullptr);
  EXPECT_NE(put(c, 100, 2), nullptr);
  EXPECT_EQ(put(c, 100, 3), nullptr);  // 300 > 250
  EXPECT_NE(put(c, 50, 4), nullptr);   // still fits exactly: 250
  EXPECT_EQ(put(c, 1, 5), nullptr);
  EXPECT_EQ(c.frames().size(), 3u);
  EXPECT_EQ(c.used_bytes(), 250u);
  EXPECT_EQ(c.dropped_packets(), 2u);
}

TEST(Capture, TruncatesToTheSnapLength) {
  CaptureBuffer c({1 << 16, 10, 64});
  put(c, 1500, 7, Dir::Out);
  ASSERT_EQ(c.frames().size(), 1u);
  EXPECT_EQ(c.frames()[0].caplen, 64u);
  EXPECT_EQ(c.frames()[0].orig_len, 1500u);
  EXPECT_EQ(c.frames()[0].dir, Dir::Out);
  EXPECT_EQ(c.truncated(), 1u);
}

TEST(Capture, ZeroBoundsCaptureNothing) {
  CaptureBuffer c({0, 0, 65535});
  EXPECT_EQ(put(c, 60, 1), nullptr);
  EXPECT_EQ(c.dropped_packets(), 1u);
}

TEST(Capture, SharesNeverExceedTheTotal) {
  for (unsigned w : {1u, 2u, 3u, 7u})
    for (std::uint64_t total : {0ull, 1ull, 5ull, 1000ull, 1001ull}) {
      std::uint64_t sum = 0;
      for (unsigned i = 0; i < w; ++i) sum += share_of(total, w, i);
      EXPECT_EQ(sum, total) << w << " workers, total " << total;
    }
  EXPECT_EQ(share_of(10, 0, 0), 0u);
}

TEST(Pcapng, BlocksAreWellFormed) {
  std::string out;
  PcapngWriter w(out, "turnpike test");
  const std::uint32_t eth0 = w.add_interface("eth0", "net_tap0", 65535);
  const std::uint32_t eth1 = w.add_interface("eth1", "", 128);
  EXPECT_EQ(eth0, 0u);
  EXPECT_EQ(eth1, 1u);
  const std::uint8_t frame[61] = {1, 2, 3};
  w.packet(eth0, 1'700'000'000'123'456'789ull, frame, 61, Dir::In);
  w.packet(eth1, 1'700'000'000'223'456'789ull, {frame, 60}, 1514, Dir::Out);
  w.statistics(eth0, 1, 2, 5, 3, "capture bound: 3 frames not captured");
  // Walk the blocks: every length is a multiple of 4 and repeated at the end.
  std::map<std::uint32_t, int> types;
  std::size_t at = 0;
  std::vector<std::uint32_t> epb_flags;
  while (at < out.size()) {
    ASSERT_LE(at + 12, out.size());
    const std::uint32_t type = le32(out, at), len = le32(out, at + 4);
    ASSERT_EQ(len % 4, 0u);
    ASSERT_LE(at + len, out.size());
    EXPECT_EQ(le32(out, at + len - 4), len);
    ++types[type];
    if (type == 6) {
      const std::uint32_t cap = le32(out, at + 20), orig = le32(out, at + 24);
      EXPECT_LE(cap, orig);
      const std::size_t opt = at + 28 + ((cap + 3) & ~3u);
      EXPECT_EQ(le32(out, opt) & 0xffff, 2u);  // epb_flags
      epb_flags.push_back(le32(out, opt + 4));
    }
    at += len;
  }
  EXPECT_EQ(at, out.size());
  EXPECT_EQ(types[0x0A0D0D0A], 1);
  EXPECT_EQ(types[1], 2);
  EXPECT_EQ(types[6], 2);
  EXPECT_EQ(types[5], 1);
  EXPECT_EQ(le32(out, 8), 0x1A2B3C4Du);
  EXPECT_EQ(epb_flags, (std::vector<std::uint32_t>{1, 2}));
  // An external reader agrees, when one is installed (CI has tshark).
  if (::access("/usr/bin/capinfos", X_OK) == 0) {
    const auto p = std::filesystem::temp_directory_path() / ("tp_pcapng_" + std::to_string(::getpid()) + ".pcapng");
    FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(out.data(), 1, out.size(), f);
    std::fclose(f);
    const std::string cmd = "capinfos -c -M " + p.string() + " 2>&1 | grep -q 'Number of packets: *2'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::filesystem::remove(p);
  }
}

TEST(Archive, WritesPrivateTarGzReadableBack) {
  const auto dir = std::filesystem::temp_directory_path() / ("tp_diag_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "snap.tar.gz").string();
  std::vector<ArchiveEntry> in{{"a_host_2026-01-01_00_00_00.txt", "hello\n"}, {"empty.txt", ""},
                               {"big.bin", std::string(300000, 'x')}};
  ASSERT_EQ(write_tar_gz(path, in, 1767225600), "");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  ASSERT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
  archive_entry* e = nullptr;
  std::size_t i = 0;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    ASSERT_LT(i, in.size());
    EXPECT_EQ(archive_entry_pathname(e), in[i].name);
    EXPECT_EQ(archive_entry_perm(e), 0600);
    std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
    if (!data.empty()) {
      EXPECT_EQ(archive_read_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
    }
    EXPECT_EQ(data, in[i].data);
    ++i;
  }
  EXPECT_EQ(i, in.size());
  archive_read_free(a);
  // A directory that does not exist: an error, no file.
  EXPECT_NE(write_tar_gz((dir / "nope" / "x.tar.gz").string(), in, 0), "");
  std::filesystem::remove_all(dir);
}
