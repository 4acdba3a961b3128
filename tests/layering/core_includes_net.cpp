// A core source may not include net/net.hpp (see CMakeLists.txt): this must fail to compile.
#include "net/net.hpp"
