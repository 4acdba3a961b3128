// The net tests' scratch folder: tests/support's.
#pragma once

#include "tests/support/temp_dir.hpp"

namespace gatio::tests {

using TempDir = ::gatio::test::TempDir;

} // namespace gatio::tests
