# gatio_plugin_code(<target>): what a plugin's own code is compiled with, for a static library
# linked into a plugin as well (gatio_add_plugin applies it to the plugin). With
# GATIO_PLUGIN_NO_GNU_UNIQUE on (Gatio's own tree sets it), GCC compiles C++ with
# -fno-gnu-unique: glibc keeps an object with GNU unique symbols loaded after dlclose, so every
# replaced version would stay in gatiod's memory. Off by default for plugins built outside the
# tree, since it gives a plugin its own copy of statics it might otherwise share with objects
# loaded apart from it (docs/plugins.md, Reloads).
function(gatio_plugin_code target)
    if(GATIO_PLUGIN_NO_GNU_UNIQUE)
        target_compile_options(${target} PRIVATE $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>)
    endif()
endfunction()

# gatio_add_plugin(<target> [OUTPUT_NAME <name>] [OUTPUT_DIRECTORY <dir>] [INSTALL_DESTINATION <dir>]
#                  <source>...)
#
# A handler plugin: a MODULE library (dlopen'ed by gatiod, never linked against) named <name>.so
# (the target's name by default) so that a listener can say handler = "<name>", compiled against
# the ABI headers (Gatio::plugin) with only the entry point exported. OUTPUT_DIRECTORY is where
# the build writes it; INSTALL_DESTINATION, if given, where `cmake --install` puts it (gatiod's
# plugin folder is Gatio_PLUGIN_DIR for an installed Gatio).
function(gatio_add_plugin target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_NAME;OUTPUT_DIRECTORY;INSTALL_DESTINATION" "")
    if(NOT arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "gatio_add_plugin(${target}): no source files")
    endif()
    if(NOT arg_OUTPUT_NAME)
        set(arg_OUTPUT_NAME ${target})
    endif()
    add_library(${target} MODULE ${arg_UNPARSED_ARGUMENTS})
    target_link_libraries(${target} PRIVATE Gatio::plugin)
    set_target_properties(${target} PROPERTIES
        OUTPUT_NAME ${arg_OUTPUT_NAME}
        PREFIX ""
        C_VISIBILITY_PRESET hidden
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    gatio_plugin_code(${target})
    if(arg_OUTPUT_DIRECTORY)
        set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY})
    endif()
    if(arg_INSTALL_DESTINATION)
        install(TARGETS ${target} LIBRARY DESTINATION ${arg_INSTALL_DESTINATION})
    endif()
endfunction()
