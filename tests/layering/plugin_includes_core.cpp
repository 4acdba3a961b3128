// A plugin source may not include core/log.hpp (see CMakeLists.txt): this must fail to compile.
#include "core/log.hpp"
