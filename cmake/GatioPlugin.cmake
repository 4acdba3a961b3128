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
    if(arg_OUTPUT_DIRECTORY)
        set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY})
    endif()
    if(arg_INSTALL_DESTINATION)
        install(TARGETS ${target} LIBRARY DESTINATION ${arg_INSTALL_DESTINATION})
    endif()
endfunction()
