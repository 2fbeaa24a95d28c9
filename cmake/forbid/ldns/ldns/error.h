/* Poison: see pd_forbid() in CMakeLists.txt. */
#error "this layer may not use ldns: only lib/zonefile reads zone files"
