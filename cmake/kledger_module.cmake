# kledger_module(<name> [SOURCES ...] [PROTOS ...] [DEPS ...] [PRIVATE_DEPS ...]
#                [TESTS ...] [TEST_DEPS ...] [TEST_DEFINITIONS ...])
#
# Makes the library kledger::<name> (target kledger_<name>) whose headers are included by their
# path from the repository root ("common/status.h"; generated protobuf code as
# "kledger/v1/events.pb.h"), and, when TESTS are given, the GoogleTest executable
# kledger_<name>_tests whose cases CTest discovers with the label "unit".
function(kledger_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PROTOS;DEPS;PRIVATE_DEPS;TESTS;TEST_DEPS;TEST_DEFINITIONS"
                        ${ARGN})
  add_library(kledger_${name} STATIC ${ARG_SOURCES} ${ARG_PROTOS})
  add_library(kledger::${name} ALIAS kledger_${name})
  target_include_directories(kledger_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(kledger_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  if(ARG_PROTOS)
    protobuf_generate(TARGET kledger_${name} LANGUAGE cpp
                      IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR}
                      PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
    target_include_directories(kledger_${name} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
    target_link_libraries(kledger_${name} PUBLIC protobuf::libprotobuf)
  endif()
  if(ARG_TESTS AND KLEDGER_BUILD_TESTS)
    add_executable(kledger_${name}_tests ${ARG_TESTS})
    target_link_libraries(kledger_${name}_tests PRIVATE kledger_${name} ${ARG_TEST_DEPS}
                          GTest::gmock GTest::gtest_main)
    target_compile_definitions(kledger_${name}_tests PRIVATE ${ARG_TEST_DEFINITIONS})
    gtest_discover_tests(kledger_${name}_tests PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# kledger_fuzzer(<name> <source> <library>): a libFuzzer executable over `library`, made only with
# KLEDGER_FUZZ=ON (clang; scripts/fuzz.sh builds everything it links with
# -fsanitize=fuzzer-no-link,address,undefined).
function(kledger_fuzzer name source library)
  if(NOT KLEDGER_FUZZ)
    return()
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${library})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()

# kledger_embed_text(<target> <file> <function>): compiles into `target` a generated source
# defining `std::string_view <function>()` (a qualified name, e.g. kledger::http::OpenApiDocument)
# that returns the bytes of `file`, regenerated whenever the file changes.
function(kledger_embed_text target file function)
  string(REGEX REPLACE "^.*::" "" name "${function}")
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded_${name}.cc)
  add_custom_command(OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${file} -DOUTPUT=${output} -DFUNCTION=${function}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    COMMENT "Embedding ${file}" VERBATIM)
  target_sources(${target} PRIVATE ${output})
endfunction()
