#include "core/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace promote {

Error IoError(const std::string& what, const std::filesystem::path& where, int error) {
  return Error{ErrorKind::kExternal, what + ": " + std::strerror(error), where.string(), ""};
}

Status SyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open directory to sync it", dir, errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return IoError("cannot sync directory", dir, error);
  return Done{};
}

}  // namespace promote
