// The services table gatiod hands to every plugin (include/gatio/plugin.h).
#pragma once

#include <gatio/plugin.h>

namespace gatio::net {

// One immutable table for the whole process; every entry forwards to the gatio_host given.
const gatio_services& host_services();

} // namespace gatio::net
