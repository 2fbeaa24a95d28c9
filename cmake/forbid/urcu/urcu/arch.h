/* Poison: see pd_forbid() in CMakeLists.txt. */
#error "this layer may not use liburcu: only lib/net publishes with RCU"
