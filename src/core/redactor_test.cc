#include "core/redactor.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace promote {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("registered secrets are replaced by their name", "[redactor]") {
  Redactor redactor;
  REQUIRE(redactor.AddSecret("STRIPE_KEY", "sk_live_abcdef123456") == Redactor::Added::kYes);
  std::string out = redactor.Redact("key=sk_live_abcdef123456 and again sk_live_abcdef123456!");
  CHECK_FALSE(Contains(out, "sk_live_abcdef123456"));
  CHECK(out == "key=<redacted:STRIPE_KEY> and again <redacted:STRIPE_KEY>!");
}

TEST_CASE("values shorter than the minimum are not registered", "[redactor]") {
  Redactor redactor;
  CHECK(redactor.AddSecret("SHORT", "abc") == Redactor::Added::kTooShort);
  CHECK(redactor.secret_count() == 0);
  CHECK(redactor.Redact("abcabc label") == "abcabc label");
  CHECK(redactor.AddSecret("FOUR", "abcd") == Redactor::Added::kYes);
  CHECK(redactor.Redact("xabcdx") == "x<redacted:FOUR>x");
}

TEST_CASE("overlapping secrets leave no piece behind", "[redactor]") {
  Redactor redactor;
  redactor.AddSecret("A", "abcd");
  redactor.AddSecret("B", "cdefgh");
  std::string out = redactor.Redact("-abcdefgh-");
  CHECK(out == "-<redacted:A>-");
  CHECK_FALSE(Contains(out, "efgh"));
}

TEST_CASE("a longer secret wins over one it contains", "[redactor]") {
  Redactor redactor;
  redactor.AddSecret("SHORT", "pass");
  redactor.AddSecret("LONG", "password123");
  CHECK(redactor.Redact("x password123 pass") == "x <redacted:LONG> <redacted:SHORT>");
}

TEST_CASE("sensitive flag values are masked", "[redactor]") {
  Redactor redactor;
  SECTION("--token=X") {
    CHECK(redactor.Redact("kubectl --token=abc.def get") == "kubectl --token=*** get");
  }
  SECTION("--token X") {
    CHECK(redactor.Redact("kubectl --token abc.def get") == "kubectl --token *** get");
  }
  SECTION("--password X") {
    CHECK(redactor.Redact("helm --password hunter22") == "helm --password ***");
  }
  SECTION("--client-secret=X") {
    CHECK(redactor.Redact("az --client-secret=s3cr3t!x") == "az --client-secret=***");
  }
  SECTION("--docker-password X") {
    CHECK(redactor.Redact("--docker-password 'p w'") == "--docker-password '***'");
  }
  SECTION("flags that only look alike are kept") {
    CHECK(redactor.Redact("--token-file /tmp/t --password-stdin x") ==
          "--token-file /tmp/t --password-stdin x");
  }
  SECTION("a following flag is not taken for a value") {
    CHECK(redactor.Redact("missing --token --context prod") == "missing --token --context prod");
  }
}

TEST_CASE("Authorization headers are masked", "[redactor]") {
  Redactor redactor;
  CHECK(redactor.Redact("Authorization: Bearer eyJhbGciOi.x.y") == "Authorization: Bearer ***");
  CHECK(redactor.Redact("authorization: basic dXNlcjpwYXNz\nnext") ==
        "authorization: basic ***\nnext");
  CHECK(redactor.Redact(R"({"Authorization":"Bearer abc123xyz"})") ==
        R"({"Authorization":"Bearer ***"})");
  CHECK(redactor.Redact("Authorization: rawtoken123 rest") == "Authorization: *** rest");
}

TEST_CASE("URL userinfo is masked", "[redactor]") {
  Redactor redactor;
  CHECK(redactor.Redact("clone https://bob:pa55word@git.example.com/r.git") ==
        "clone https://bob:***@git.example.com/r.git");
  CHECK(redactor.Redact("https://ghp_abcdef123@github.com/x") == "https://***@github.com/x");
  CHECK(redactor.Redact("ssh://git@github.com/x") == "ssh://git@github.com/x");
  CHECK(redactor.Redact("see https://example.com/a@b") == "see https://example.com/a@b");
  CHECK(redactor.Redact("postgres://u:p%40ss@db:5432/x") == "postgres://u:***@db:5432/x");
}

TEST_CASE("key=value with a sensitive key is masked", "[redactor]") {
  Redactor redactor;
  CHECK(redactor.Redact("--set db.password=hunter2,replicas=3") ==
        "--set db.password=***,replicas=3");
  CHECK(redactor.Redact("--set stripe.apiKey=sk_123") == "--set stripe.apiKey=***");
  CHECK(redactor.Redact("API_KEY=abc123 CLIENT_SECRET='x y' other=1") ==
        "API_KEY=*** CLIENT_SECRET='***' other=1");
  CHECK(redactor.Redact("/cb?access_token=abc&state=1") == "/cb?access_token=***&state=1");
  CHECK(redactor.Redact("--from-literal=password=p4ss") == "--from-literal=password=***");
  CHECK(redactor.Redact("replicas=3 image=api:v1") == "replicas=3 image=api:v1");
}

TEST_CASE("JSON members with a sensitive key are masked", "[redactor]") {
  Redactor redactor;
  CHECK(redactor.Redact(R"({"user":"bob","password": "p\"w","token":"t0k"})") ==
        R"({"user":"bob","password": "***","token":"***"})");
  CHECK(redactor.Redact(R"({"tokenCount": 3})") == R"({"tokenCount": 3})");
}

TEST_CASE("redaction is idempotent and keeps secret names", "[redactor]") {
  Redactor redactor;
  redactor.AddSecret("GHCR", "ghp_secretvalue");
  std::string once = redactor.Redact("--password=ghp_secretvalue --token ghp_secretvalue");
  CHECK(once == "--password=<redacted:GHCR> --token <redacted:GHCR>");
  CHECK(redactor.Redact(once) == once);
}

TEST_CASE("RedactArgv masks the element after a bare sensitive flag", "[redactor]") {
  Redactor redactor;
  redactor.AddSecret("TOKEN", "registered-token");
  std::vector<std::string> argv = {
      "kubectl", "--token", "plain-token-value", "--password", "registered-token", "--context",
      "prod",    "--set",   "a.secret=zz9"};
  std::vector<std::string> out = redactor.RedactArgv(argv);
  REQUIRE(out.size() == argv.size());
  CHECK(out[2] == "***");
  CHECK(out[4] == "<redacted:TOKEN>");
  CHECK(out[6] == "prod");
  CHECK(out[8] == "a.secret=***");
  CHECK(redactor.RedactArgv({"-H", "Authorization: Bearer abc"})[1] == "Authorization: Bearer ***");
}

TEST_CASE("FromEnvironment registers the named variables", "[redactor]") {
  ::setenv("PROMOTE_TEST_REDACTOR_SECRET", "env-secret-value", 1);
  ::setenv("PROMOTE_TEST_REDACTOR_SHORT", "ab", 1);
  ::unsetenv("PROMOTE_TEST_REDACTOR_UNSET");
  Redactor redactor =
      Redactor::FromEnvironment({"PROMOTE_TEST_REDACTOR_SECRET", "PROMOTE_TEST_REDACTOR_SHORT",
                                 "PROMOTE_TEST_REDACTOR_UNSET"});
  CHECK(redactor.secret_count() == 1);
  CHECK(redactor.Redact("v=env-secret-value") == "v=<redacted:PROMOTE_TEST_REDACTOR_SECRET>");
  ::unsetenv("PROMOTE_TEST_REDACTOR_SECRET");
  ::unsetenv("PROMOTE_TEST_REDACTOR_SHORT");
}

TEST_CASE("text without secrets passes unchanged", "[redactor]") {
  Redactor redactor;
  redactor.AddSecret("X", "zzzz-never-there");
  std::string text = "deployment.apps/keybuzz-api image updated: ghcr.io/k/api:v0.4.31";
  CHECK(redactor.Redact(text) == text);
  CHECK(redactor.Redact("") == "");
}

}  // namespace
}  // namespace promote

namespace promote {

TEST_CASE("a container env entry whose name looks secret is masked in object JSON", "[redactor]") {
  const Redactor redactor;
  const std::string spec =
      R"({"env":[{"name":"DB_PASSWORD","value":"hunter2-long"},{"name":"stripeApiKey", "value": )"
      R"("sk_live_123"},{"name":"LOG_LEVEL","value":"debug"}]})";
  const std::string out = redactor.Redact(spec);
  CHECK(out.find("hunter2-long") == std::string::npos);
  CHECK(out.find("sk_live_123") == std::string::npos);
  CHECK(out.find(R"("value":"debug")") != std::string::npos);
  CHECK(redactor.Redact(out) == out);
  CHECK(Redactor::SecretLookingName("GITHUB_TOKEN"));
  CHECK(Redactor::SecretLookingName("jwtSecret"));
  CHECK(Redactor::SecretLookingName("AWS_ACCESS_KEY_ID"));
  CHECK_FALSE(Redactor::SecretLookingName("LOG_LEVEL"));
}

TEST_CASE("values learned while running are redacted by name, from any thread", "[redactor]") {
  const Redactor redactor;
  std::atomic<int> wrong{0};  // Catch's CHECK is not thread-safe: count, check after
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    // Names and texts made with std::string's own appends: GCC 12's Release build warns
    // (stringop-overflow, a false positive) on `"literal" + std::to_string(t)` in a lambda.
    const std::string name(1, static_cast<char>('a' + t));
    threads.emplace_back([&, name] {
      for (int i = 0; i < 50; ++i) {
        std::string value = "learned-";
        value.append(name).append("-").append(std::to_string(i));
        wrong += redactor.Learn(name, value) != Redactor::Added::kYes;
        std::string expected = "echo <redacted:";
        expected.append(name).append(">");
        wrong += redactor.Redact("echo " + value) != expected;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(redactor.secret_count() == 200);
  CHECK(redactor.Learn("short", "abc") == Redactor::Added::kTooShort);
  // A copy shares what the original learns (the journal's and the logger's are copies).
  const Redactor copy = redactor;
  (void)redactor.Learn("late", "learned-after-the-copy");
  CHECK(copy.Redact("learned-after-the-copy") == "<redacted:late>");
}

}  // namespace promote
