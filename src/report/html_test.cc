#include "report/html.h"

#include <catch2/catch.hpp>

namespace promote::report {
namespace {

TEST_CASE("the HTML page renders the reports' Markdown and fetches nothing", "[report][html]") {
  const std::string markdown =
      "# Audit: keybuzz dev → prod\n\nStarted now · took 1s\n\n## Conclusion\n\n"
      "❌ **prod is not functional**: login impossible\n\n"
      "| Service | Image |\n|---|---|\n| api | `v0.9.29`<br>`sha256:0f3c` |\n| a \\| b | x |\n\n"
      "- one `two`\n- three\n\n1. **promote** (recommended) — `promote dev prod`\n\n"
      "```sh\npromote dev prod && echo <ok>\n```\n\n```mermaid\ngantt\n```\n";
  const std::string page = RenderHtmlPage("Audit <keybuzz>", markdown, "<svg>chart</svg>");
  CHECK(page.rfind("<!doctype html>", 0) == 0);
  CHECK_THAT(page, Catch::Contains("<title>Audit &lt;keybuzz&gt;</title>"));
  CHECK_THAT(page, Catch::Contains("<h1>Audit: keybuzz dev → prod</h1>"));
  CHECK_THAT(page, Catch::Contains("<p>❌ <strong>prod is not functional</strong>: login"));
  CHECK_THAT(page, Catch::Contains("<tr><th>Service</th><th>Image</th></tr>"));
  CHECK_THAT(page,
             Catch::Contains("<td><code>v0.9.29</code><br><code>sha256:0f3c</code></td></tr>"));
  CHECK_THAT(page, Catch::Contains("<tr><td>a | b</td><td>x</td></tr>"));
  CHECK_THAT(page, Catch::Contains("<ul>\n<li>one <code>two</code></li>\n<li>three</li>\n</ul>"));
  CHECK_THAT(page, Catch::Contains("<ol>\n<li><strong>promote</strong> (recommended)"));
  CHECK_THAT(page, Catch::Contains("<pre><code>promote dev prod &amp;&amp; echo &lt;ok&gt;"));
  CHECK_THAT(page, Catch::Contains("<figure><svg>chart</svg></figure>"));
  // Self-contained: nothing is loaded from anywhere.
  for (const char* fetch : {"<script", "<link", "src=", "@import", "url("}) {
    CHECK_THAT(page, !Catch::Contains(fetch));
  }
}

TEST_CASE("text from a service cannot become markup in the HTML page", "[report][html]") {
  const std::string page =
      RenderHtmlPage("t", "body: `<script>alert(1)</script>` and <img src=x onerror=y>\n");
  CHECK_THAT(page, !Catch::Contains("<script>"));
  CHECK_THAT(page, !Catch::Contains("<img"));
  CHECK_THAT(page, Catch::Contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
}

}  // namespace
}  // namespace promote::report
