# What `cmake --install` (DESTDIR honoured) places besides the programs and plugins, whose own
# CMakeLists install them: the example configuration, the systemd units, tmpfiles.d and
# sysusers.d entries, the documentation, and the plugin SDK (headers, CMake package and
# pkg-config file). Paths are fixed when configuring, like gatiod's default plugin_dir.
include(CMakePackageConfigHelpers)

set(GATIO_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_FULL_LIBDIR}/gatio/plugins)

# The ABI version the headers declare, for the package files.
file(STRINGS ${PROJECT_SOURCE_DIR}/include/gatio/plugin.h abi_lines REGEX "^#define GATIO_ABI_(MAJOR|MINOR) ")
foreach(line IN LISTS abi_lines)
    if(line MATCHES "^#define GATIO_ABI_(MAJOR|MINOR) ([0-9]+)")
        set(GATIO_ABI_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endif()
endforeach()
if(NOT DEFINED GATIO_ABI_MAJOR OR NOT DEFINED GATIO_ABI_MINOR)
    message(FATAL_ERROR "include/gatio/plugin.h: GATIO_ABI_MAJOR and GATIO_ABI_MINOR not found")
endif()

# systemd's folders as systemd.pc names them (e.g. /lib/systemd/system), else under the prefix.
function(gatio_systemd_dir out pc_variable fallback description)
    pkg_get_variable(dir systemd ${pc_variable})
    if(NOT dir)
        set(dir ${CMAKE_INSTALL_PREFIX}/${fallback})
    endif()
    set(${out} ${dir} CACHE PATH ${description})
endfunction()
gatio_systemd_dir(GATIO_SYSTEMD_UNIT_DIR systemdsystemunitdir lib/systemd/system "systemd unit folder")
gatio_systemd_dir(GATIO_TMPFILES_DIR tmpfilesdir lib/tmpfiles.d "tmpfiles.d folder")
gatio_systemd_dir(GATIO_SYSUSERS_DIR sysusersdir lib/sysusers.d "sysusers.d folder")

# ---- systemd
set(GATIO_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(GATIO_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(GATIO_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
foreach(unit gatiod.service gatiod.socket)
    configure_file(${PROJECT_SOURCE_DIR}/systemd/${unit}.in ${PROJECT_BINARY_DIR}/systemd/${unit} @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/systemd/${unit} DESTINATION ${GATIO_SYSTEMD_UNIT_DIR})
endforeach()
install(FILES systemd/gatio.tmpfiles.conf DESTINATION ${GATIO_TMPFILES_DIR} RENAME gatio.conf)
install(FILES systemd/gatio.sysusers.conf DESTINATION ${GATIO_SYSUSERS_DIR} RENAME gatio.conf)
# Not active by itself: docs/operations.md says where to copy it.
install(FILES systemd/notify-reload.conf DESTINATION ${CMAKE_INSTALL_DATADIR}/gatio/systemd)

# ---- documentation
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")

# ---- the example configuration, its plugin_dir set to the installed plugins (at install time,
# so that an existing gatio.toml is never overwritten)
set(GATIO_EXAMPLE_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/gatio)
configure_file(cmake/install_example_config.cmake.in ${PROJECT_BINARY_DIR}/cmake/install_example_config.cmake
               @ONLY)
install(SCRIPT ${PROJECT_BINARY_DIR}/cmake/install_example_config.cmake)

# ---- plugin SDK
install(DIRECTORY include/gatio DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h"
        PATTERN "*.hpp")
set(package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Gatio)
configure_package_config_file(cmake/GatioConfig.cmake.in ${PROJECT_BINARY_DIR}/cmake/GatioConfig.cmake
                              INSTALL_DESTINATION ${package_dir} PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/GatioConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/cmake/GatioConfig.cmake ${PROJECT_BINARY_DIR}/cmake/GatioConfigVersion.cmake
              cmake/GatioPlugin.cmake DESTINATION ${package_dir})
configure_file(cmake/gatio-plugin.pc.in ${PROJECT_BINARY_DIR}/cmake/gatio-plugin.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/gatio-plugin.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
