// A private scratch folder for a test, removed with everything in it, and reading a file whole.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace gatio::test {

class TempDir {
public:
    // $TMPDIR/gatio-<label>-XXXXXX (or under /tmp).
    explicit TempDir(std::string_view label = "test");
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();

    const std::filesystem::path& path() const { return path_; }
    // Written to a temporary name, then renamed over `name`: a reader (gatiod reloading its
    // configuration) sees the old content or the new, never a part.
    std::filesystem::path write(std::string_view name, std::string_view content) const;

private:
    std::filesystem::path path_;
};

// The whole content of a file, byte for byte; fails the test, naming the file, when it cannot be
// opened or read.
std::string read_file(const std::filesystem::path& path);

} // namespace gatio::test
