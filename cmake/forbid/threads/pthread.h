/* Poison: see pd_forbid() in CMakeLists.txt. */
#error "lib/core knows no threads: the engine (lib/net) runs them"
