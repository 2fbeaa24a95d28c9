# Read by cpack before it packages (CPACK_PROJECT_CONFIG_FILE): refuses a build folder that
# was not configured as packaging/deb.sh configures one, since the package's unit starts
# /usr/sbin/pindnsd and its pindns.conf serves /var/lib/pindns/zones
# and keeps transferred zones in /var/lib/pindns/state.
set(_pindns_why "")
if(NOT CPACK_PINDNS_INSTALL_PREFIX STREQUAL "/usr")
  string(APPEND _pindns_why " it installs under ${CPACK_PINDNS_INSTALL_PREFIX}, not /usr;")
endif()
if(NOT CPACK_PINDNS_ZONES_DIR STREQUAL "/var/lib/pindns/zones")
  string(APPEND _pindns_why
         " its default zones folder is ${CPACK_PINDNS_ZONES_DIR}, not /var/lib/pindns/zones;")
endif()
if(NOT CPACK_PINDNS_STATE_DIR STREQUAL "/var/lib/pindns/state")
  string(APPEND _pindns_why
         " its default state-dir is ${CPACK_PINDNS_STATE_DIR}, not /var/lib/pindns/state;")
endif()
foreach(_pindns_on IN LISTS CPACK_PINDNS_INSTRUMENTED)
  if(_pindns_on)
    set(_pindns_instrumented 1)
  endif()
endforeach()
if(_pindns_instrumented)
  string(APPEND _pindns_why " it is built with sanitizers or for fuzzing;")
endif()
if(_pindns_why)
  message(FATAL_ERROR "pindns: this build folder does not make a usable package:"
                      "${_pindns_why} build the package with packaging/deb.sh")
endif()
