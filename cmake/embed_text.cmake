# cmake -DINPUT=<text file> -DOUTPUT=<.cc> -DFUNCTION=<qualified name> -P embed_text.cmake
#
# Writes a C++ source defining `std::string_view FUNCTION()` that returns INPUT's bytes, as a raw
# string literal. Run at build time by kledger_embed_text (kledger_module.cmake), so the binary
# always serves the file as it is in the source tree.
file(READ "${INPUT}" text)
set(delimiter "kledger_embed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds the raw string delimiter ')${delimiter}\"'")
endif()
string(REGEX REPLACE "::[^:]+$" "" namespace "${FUNCTION}")
string(REGEX REPLACE "^.*::" "" name "${FUNCTION}")
file(WRITE "${OUTPUT}"
  "// Generated from ${INPUT} by cmake/embed_text.cmake; edit that file instead.\n"
  "#include <string_view>\n\n"
  "namespace ${namespace} {\n\n"
  "std::string_view ${name}() {\n"
  "  static constexpr std::string_view kText = R\"${delimiter}(${text})${delimiter}\";\n"
  "  return kText;\n"
  "}\n\n"
  "}  // namespace ${namespace}\n")
