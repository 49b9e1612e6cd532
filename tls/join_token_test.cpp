#include "tls/join_token.h"

#include <gtest/gtest.h>

namespace kite::tls {
namespace {

const std::string kHash(64, 'a');

TEST(JoinTokenTest, GeneratedTokenRoundTrips) {
  auto random = Random::Create();
  ASSERT_TRUE(random.ok());
  auto t = GenerateJoinToken(**random, kHash);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(IsBootstrapToken(t->BearerToken())) << t->BearerToken();
  auto back = ParseJoinToken(t->ToString() + "\n");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ca_hash, kHash);
  EXPECT_EQ(back->id, t->id);
  EXPECT_EQ(back->secret, t->secret);
  auto other = GenerateJoinToken(**random, kHash);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->BearerToken(), t->BearerToken());
}

TEST(JoinTokenTest, MalformedTokensAreRefusedWithoutTheSecret) {
  const std::string good = "K10" + kHash + "::abcdef.0123456789abcdef";
  ASSERT_TRUE(ParseJoinToken(good).ok());
  for (const std::string& bad :
       {std::string("abcdef.0123456789abcdef"),                 // no CA hash
        "K10" + kHash + "abcdef.0123456789abcdef",              // no ::
        "K10" + kHash.substr(1) + "::abcdef.0123456789abcdef",  // short hash
        "K10" + std::string(64, 'G') + "::abcdef.0123456789abcdef",
        "K10" + kHash + "::abcdef.0123456789ABCDEF",  // upper case
        "K10" + kHash + "::abcde.0123456789abcdef", std::string("")}) {
    auto t = ParseJoinToken(bad);
    EXPECT_EQ(t.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(t.status().message().find("0123456789abcdef"), std::string::npos)
        << t.status().message();
  }
  EXPECT_NE(ParseJoinToken("abcdef.0123456789abcdef")
                .status()
                .message()
                .find("no CA hash"),
            std::string::npos);
}

TEST(JoinTokenTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

}  // namespace
}  // namespace kite::tls
