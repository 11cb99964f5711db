# run_fuzz.cmake: one ctest fuzz.<name> (see CMakeLists.txt).
#
# Copies the seed corpus SEEDS into the build directory (WORK/corpus, which
# keeps what the fuzzer finds between runs), first replays every input of
# REGRESSIONS (if that directory exists), then fuzzes for SECONDS. Any crash,
# leak, sanitizer report, timeout or out-of-memory fails the test; the
# input is left in WORK/artifacts/.
foreach(v FUZZER SEEDS REGRESSIONS DICT WORK SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: -D${v}=... is missing")
  endif()
endforeach()

file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
file(GLOB seeds "${SEEDS}/*")
file(COPY ${seeds} DESTINATION "${WORK}/corpus")

set(opts -timeout=10 -rss_limit_mb=2048 -artifact_prefix=${WORK}/artifacts/ -print_final_stats=1)

if(IS_DIRECTORY "${REGRESSIONS}")
  file(GLOB regressions "${REGRESSIONS}/*")
  if(regressions)
    list(LENGTH regressions n)
    message(STATUS "replaying ${n} regression input(s) from ${REGRESSIONS}")
    execute_process(COMMAND "${FUZZER}" ${opts} ${regressions} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "a regression input fails again (exit ${rc})")
    endif()
  endif()
endif()

message(STATUS "fuzzing ${FUZZER} for ${SECONDS} s on ${WORK}/corpus")
execute_process(COMMAND "${FUZZER}" ${opts} -max_total_time=${SECONDS} -dict=${DICT}
                        "${WORK}/corpus"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found "${WORK}/artifacts/*")
  message(FATAL_ERROR "the fuzzer failed (exit ${rc}); inputs: ${found}\n"
                      "reproduce: ${FUZZER} <input>; minimise: ${FUZZER} -minimize_crash=1 "
                      "-runs=100000 <input>")
endif()
