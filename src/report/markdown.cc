#include "report/markdown.h"

#include "adapters/kube/cluster.h"
#include "core/image_reference.h"

namespace promote::report::markdown {

std::string Cell(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Code(const std::string& text) {
  if (text.empty()) return kNone;
  const std::string fence = text.find('`') == std::string::npos ? "`" : "`` ";
  const std::string close = fence == "`" ? "`" : " ``";
  return fence + Cell(text) + close;
}

std::string ShortImage(const std::string& image, const std::optional<std::string>& digest) {
  if (image.empty()) return kNone;
  std::string tag = adapters::kube::ImageTag(image);
  if (tag.rfind("sha256:", 0) == 0) tag = ShortDigest(tag);
  std::string out = Code(tag);
  if (digest) out += "<br>" + Code(ShortDigest(*digest));
  return out;
}

}  // namespace promote::report::markdown
