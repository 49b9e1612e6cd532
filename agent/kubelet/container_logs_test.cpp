#include "agent/kubelet/container_logs.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "api/object.h"

namespace kite::kubelet {
namespace {

using std::chrono::milliseconds;

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/kite-logs-test-XXXXXX";
    int fd = mkstemp(tmpl);
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  void Append(const std::string& text) {
    std::ofstream f(path_, std::ios::app | std::ios::binary);
    f << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char kLog[] =
    "2026-11-22T08:00:00.000000001Z stdout F one\n"
    "2026-11-22T08:00:01.5Z stderr F two\n"
    "2026-11-22T08:00:02Z stdout P thr\n"
    "2026-11-22T08:00:02.1Z stdout F ee\n"
    "2026-11-22T08:00:03Z stdout F four\n";

std::string ReadAll(const std::string& path, const LogOptions& o) {
  auto s = LogStream::Open(path, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return "";
  std::string out;
  while ((*s)->Next(&out, milliseconds(10))) {
  }
  return out;
}

TEST(CriLogLineTest, ParsesTheFourFields) {
  CriLogEntry e;
  ASSERT_TRUE(ParseCriLogLine(
      "2026-11-22T00:43:14.021129364Z stdout F hello world", &e));
  EXPECT_EQ(e.timestamp, "2026-11-22T00:43:14.021129364Z");
  EXPECT_FALSE(e.is_stderr);
  EXPECT_FALSE(e.partial);
  EXPECT_EQ(e.text, "hello world");
  EXPECT_EQ(api::FormatMicroTime(e.time), "2026-11-22T00:43:14.021129Z");

  ASSERT_TRUE(ParseCriLogLine("2026-11-22T00:43:14Z stderr P ", &e));
  EXPECT_TRUE(e.is_stderr);
  EXPECT_TRUE(e.partial);
  EXPECT_EQ(e.text, "");
  // An empty line is written with its tag and nothing after it.
  ASSERT_TRUE(ParseCriLogLine("2026-11-22T00:43:14Z stdout F", &e));
  EXPECT_EQ(e.text, "");

  EXPECT_FALSE(ParseCriLogLine("", &e));
  EXPECT_FALSE(ParseCriLogLine("garbage", &e));
  EXPECT_FALSE(ParseCriLogLine("2026-11-22T00:43:14Z stdin F x", &e));
  EXPECT_FALSE(ParseCriLogLine("yesterday stdout F x", &e));
}

TEST(LogStreamTest, JoinsPartialLinesAndKeepsBothStreams) {
  TempFile f;
  f.Append(kLog);
  EXPECT_EQ(ReadAll(f.path(), {}), "one\ntwo\nthree\nfour\n");
}

TEST(LogStreamTest, Timestamps) {
  TempFile f;
  f.Append(kLog);
  LogOptions o;
  o.timestamps = true;
  EXPECT_EQ(ReadAll(f.path(), o),
            "2026-11-22T08:00:00.000000001Z one\n"
            "2026-11-22T08:00:01.5Z two\n"
            "2026-11-22T08:00:02Z thr2026-11-22T08:00:02.1Z ee\n"
            "2026-11-22T08:00:03Z four\n");
}

TEST(LogStreamTest, TailCountsFileLines) {
  TempFile f;
  f.Append(kLog);
  LogOptions o;
  o.tail_lines = 1;
  EXPECT_EQ(ReadAll(f.path(), o), "four\n");
  o.tail_lines = 2;
  EXPECT_EQ(ReadAll(f.path(), o), "ee\nfour\n");
  o.tail_lines = 4;
  EXPECT_EQ(ReadAll(f.path(), o), "two\nthree\nfour\n");
  o.tail_lines = 100;
  EXPECT_EQ(ReadAll(f.path(), o), "one\ntwo\nthree\nfour\n");
  o.tail_lines = 0;
  EXPECT_EQ(ReadAll(f.path(), o), "");
}

TEST(LogStreamTest, TailOfALargeFileCrossesReadBlocks) {
  TempFile f;
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "2026-11-22T08:00:00Z stdout F line " + std::to_string(i) + "\n";
  f.Append(text);
  LogOptions o;
  o.tail_lines = 3;
  EXPECT_EQ(ReadAll(f.path(), o), "line 4997\nline 4998\nline 4999\n");
  std::string all = ReadAll(f.path(), {});
  EXPECT_EQ(all.substr(0, 14), "line 0\nline 1\n");
  EXPECT_EQ(all.size(),
            text.size() -
                5000 * std::string("2026-11-22T08:00:00Z stdout F ").size());
}

TEST(LogStreamTest, SinceAndLimitBytes) {
  TempFile f;
  f.Append(kLog);
  LogOptions o;
  o.since = *api::ParseTime("2026-11-22T08:00:01.5Z");
  EXPECT_EQ(ReadAll(f.path(), o), "two\nthree\nfour\n");
  LogOptions l;
  l.limit_bytes = 6;
  EXPECT_EQ(ReadAll(f.path(), l), "one\ntw");
}

TEST(LogStreamTest, MissingFileIsNotFound) {
  EXPECT_EQ(LogStream::Open("/nonexistent/kite/0.log", {}).status().code(),
            Code::kNotFound);
}

TEST(LogStreamTest, FollowSeesLinesAsTheyAreWritten) {
  TempFile f;
  f.Append("2026-11-22T08:00:00Z stdout F first\n");
  LogOptions o;
  o.follow = true;
  auto s = LogStream::Open(f.path(), o);
  ASSERT_TRUE(s.ok());
  std::string out;
  EXPECT_TRUE((*s)->Next(&out, milliseconds(10)));
  EXPECT_EQ(out, "first\n");
  out.clear();
  // Nothing new: the wait ends empty and the stream goes on.
  EXPECT_TRUE((*s)->Next(&out, milliseconds(10)));
  EXPECT_EQ(out, "");
  // A file line without its newline yet is held back.
  f.Append("2026-11-22T08:00:01Z stdout P sec");
  EXPECT_TRUE((*s)->Next(&out, milliseconds(100)));
  EXPECT_EQ(out, "");
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    f.Append("ond\n");
    f.Append("2026-11-22T08:00:01Z stdout F \n");
  });
  // The wait ends when the runtime writes, not at its end.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.find('\n') == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*s)->Next(&out, milliseconds(5000)));
  }
  writer.join();
  std::string rest;
  (*s)->Finish(&rest);
  EXPECT_EQ(out + rest, "second\n");
  EXPECT_FALSE((*s)->Next(&rest, milliseconds(10)));
}

TEST(LogOptionsTest, ParsesTheKubeletQuery) {
  std::map<std::string, std::string> q = {{"follow", "true"},
                                          {"timestamps", "1"},
                                          {"tailLines", "10"},
                                          {"limitBytes", "500"},
                                          {"sinceSeconds", "60"}};
  auto param = [&](const char* n) { return q.count(n) ? q.at(n) : ""; };
  auto has = [&](const char* n) { return q.count(n) > 0; };
  auto now = *api::ParseTime("2026-11-22T08:00:00Z");
  auto o = ParseLogOptions(param, has, now);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->follow);
  EXPECT_TRUE(o->timestamps);
  EXPECT_EQ(*o->tail_lines, 10);
  EXPECT_EQ(*o->limit_bytes, 500);
  EXPECT_EQ(api::FormatTime(*o->since), "2026-11-22T07:59:00Z");

  q = {{"tailLines", "-1"}};
  EXPECT_EQ(ParseLogOptions(param, has, now).status().code(),
            Code::kInvalidArgument);
  q = {{"tailLines", "ten"}};
  EXPECT_EQ(ParseLogOptions(param, has, now).status().code(),
            Code::kInvalidArgument);
  q = {{"sinceSeconds", "5"}, {"sinceTime", "2026-11-22T07:00:00Z"}};
  EXPECT_EQ(ParseLogOptions(param, has, now).status().code(),
            Code::kInvalidArgument);
  q = {{"sinceTime", "2026-11-22T07:00:00Z"}, {"follow", "maybe"}};
  EXPECT_EQ(ParseLogOptions(param, has, now).status().code(),
            Code::kInvalidArgument);
  q = {{"sinceTime", "2026-11-22T07:00:00Z"}};
  o = ParseLogOptions(param, has, now);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(api::FormatTime(*o->since), "2026-11-22T07:00:00Z");
  EXPECT_FALSE(o->follow);
}

}  // namespace
}  // namespace kite::kubelet
