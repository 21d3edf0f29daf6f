// Fuzz target: the Argo Rollouts AnalysisTemplate reader (its args, metrics, limits, provider and
// the success/failure condition parser), as a plan's `analysisTemplate:` reads a file the user
// already has. The template is loaded or refused with an Error that says what is wrong; anything
// else is a finding.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "plan/loader.h"

namespace {

// A plan whose api takes its checks from template.yaml beside it, with the args the seed
// templates declare, in a folder of this process's own (removed when it exits).
struct TemplatePlan {
  std::filesystem::path folder;
  std::filesystem::path plan;
  std::filesystem::path template_file;

  TemplatePlan() {
    char name[] = "/tmp/promote-fuzz-template-XXXXXX";
    if (mkdtemp(name) == nullptr) __builtin_trap();
    folder = name;
    plan = folder / "plan.yaml";
    template_file = folder / "template.yaml";
    std::ofstream(plan) << R"(apiVersion: promote/v1
name: shop
releases: { repo: ../releases }
environments:
  dev: { context: dev, namespace: "shop-{service}-dev", url: "http://{service}.dev.test",
         prometheus: { url: "http://prom.dev.test" } }
  prod: { context: prod, namespace: "shop-{service}-prod", url: "http://{service}.prod.test",
          prometheus: { url: "http://prom.prod.test" } }
services:
  - name: api
    image: registry.test/api
    workload: deployment/api
    metrics:
      - analysisTemplate: template.yaml
        args: { service-name: "{service}.{namespace}", namespace: "{namespace}" }
)";
  }
  ~TemplatePlan() {
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const TemplatePlan files;
  {
    std::ofstream out(files.template_file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto loaded = promote::plan::LoadPlan(files.plan);
  if (!loaded && loaded.error().what.empty()) __builtin_trap();  // a refusal must say what
  return 0;
}
