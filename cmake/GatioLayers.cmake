# The include path of each layer (docs/architecture.md): config -> core -> net, with daemon wiring
# them. Sources stay in their folders; each layer gets a folder in the build tree holding links to
# the source folders it may include, and nothing else, so "net/tcp.hpp" from a core file fails to
# compile. Plugins see only include/ (gatio/plugin.h, gatio/plugin.hpp).
set(GATIO_LAYERS_DIR ${PROJECT_BINARY_DIR}/layers)

# gatio_layer(<layer> <folder>...): GATIO_<layer>_INCLUDE_DIR, exposing the folders named (paths
# relative to the repository root, linked under their last component).
function(gatio_layer layer)
    set(dir ${GATIO_LAYERS_DIR}/${layer})
    file(REMOVE_RECURSE ${dir})
    file(MAKE_DIRECTORY ${dir})
    foreach(folder IN LISTS ARGN)
        get_filename_component(name ${folder} NAME)
        file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${dir}/${name} SYMBOLIC)
    endforeach()
    set(GATIO_${layer}_INCLUDE_DIR ${dir} PARENT_SCOPE)
endfunction()

gatio_layer(config config)
gatio_layer(core config core)
gatio_layer(net config core net include/gatio)
# The daemon also wires in the built-in [admin] handler (plugins/admin), seen as "admin/...".
gatio_layer(daemon config core net daemon plugins/admin)
set(GATIO_plugin_INCLUDE_DIR ${PROJECT_SOURCE_DIR}/include)
