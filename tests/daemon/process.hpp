// Child and run() for the tests that include them from here: tests/support/child.hpp.
#pragma once

#include "tests/support/child.hpp"
