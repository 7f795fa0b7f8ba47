#include "turnpike/tcp/buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// Once empty, the buffer stores its next bytes from the front of a chunk
// whatever their sequence number (one message then touches few lines of a
// recently used chunk), across the sequence wrap too; limit() only grows.
TEST(SeqBuffer, EmptiedBufferRestartsAtAChunkFront) {
  ChunkPool pool(1024, 64);
  SeqBuffer b;
  b.configure(4, pool.chunk_shift());
  const Seq start(0xfffffc00u + 700);  // 700 into a chunk, 324 before the wrap
  std::vector<std::uint8_t> in(1500);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint8_t>(i * 13 + 1);
  ASSERT_TRUE(b.write(pool, start, in.data(), in.size()));
  EXPECT_EQ(b.contiguous(start, 4096).size(), 324u);  // by sequence number at first
  EXPECT_EQ(b.chunks_held(), 3u);                       // 324 + 1024 + 152
  const Seq end = start + 1500;
  const Seq limit_before = b.limit(end);
  b.release(pool, start, end, true);
  ASSERT_EQ(b.chunks_held(), 0u);
  EXPECT_TRUE(limit_before <= b.limit(end));
  EXPECT_EQ(b.limit(end), end + 4096);
  ASSERT_TRUE(b.write(pool, end, in.data(), in.size()));
  EXPECT_EQ(b.chunks_held(), 2u);  // 1024 + 476
  EXPECT_EQ(b.contiguous(end, 4096).size(), 1024u);
  std::vector<std::uint8_t> out(in.size());
  b.read(end, out.data(), out.size());
  EXPECT_EQ(in, out);
  // A partial release keeps the mapping: the rest reads back unchanged.
  b.release(pool, end, end + 1100, false);
  EXPECT_EQ(b.chunks_held(), 1u);
  std::vector<std::uint8_t> rest(400);
  b.read(end + 1100, rest.data(), rest.size());
  EXPECT_TRUE(std::equal(rest.begin(), rest.end(), in.begin() + 1100));
  b.release(pool, end + 1100, end + 1500, true);
  EXPECT_EQ(pool.in_use(), 0u);
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
