#include "turnpike/tcp/buffer.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace turnpike::tcp;

TEST(SeqBuffer, WriteReadAcrossChunksAndSeqWrap) {
  ChunkPool pool(1024, 64);
  SeqBuffer b;
  b.configure(8, pool.chunk_shift());
  EXPECT_EQ(b.capacity(), 8192u);
  const Seq start(0xffffff00u);
  std::vector<std::uint8_t> in(5000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint8_t>(i * 7);
  ASSERT_TRUE(b.write(pool, start, in.data(), in.size()));
  std::vector<std::uint8_t> out(in.size());
  b.read(start, out.data(), out.size());
  EXPECT_EQ(in, out);
  // 256 bytes in the first chunk (start is 768 into it), then 4744 over five more.
  EXPECT_EQ(b.chunks_held(), 6u);
  EXPECT_EQ(pool.in_use(), 6u);
  // Consume up to 3000: chunks wholly before are returned.
  b.release(pool, start, start + 3000, false);
  EXPECT_EQ(b.chunks_held(), 3u);
  // Consume everything: the buffer holds nothing.
  b.release(pool, start + 3000, start + 5000, true);
  EXPECT_EQ(b.chunks_held(), 0u);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(SeqBuffer, LimitKeepsOldestChunkPrivate) {
  ChunkPool pool(1024, 64);
  SeqBuffer b;
  b.configure(4, pool.chunk_shift());
  EXPECT_EQ(b.limit(Seq(100)).raw(), 4096u);
  EXPECT_EQ(b.limit(Seq(1024)).raw(), 1024u + 4096u);
}

TEST(ChunkPool, LimitIsEnforced) {
  ChunkPool pool(4096, 3, 2);
  auto* a = pool.get();
  auto* b = pool.get();
  auto* c = pool.get();
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(pool.get(), nullptr);
  pool.put(b);
  EXPECT_EQ(pool.get(), b);
  pool.put(a);
  pool.put(b);
  pool.put(c);
  EXPECT_EQ(pool.in_use(), 0u);
}
