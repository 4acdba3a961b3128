// A net source may not include daemon/run.hpp (see CMakeLists.txt): this must fail to compile.
#include "daemon/run.hpp"
