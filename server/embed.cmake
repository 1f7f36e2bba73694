# embed.cmake - writes a file's bytes as a C array, at build time:
#   cmake -DIN=<file> -DOUT=<file.c> -DSYMBOL=<name> -P embed.cmake
# defines `const unsigned char <name>[]` (the bytes, no NUL added) and
# `const size_t <name>_len`. Used for docs/openapi.json (api_openapi.c):
# plain C, so any compiler and sanitizer build takes it as it is.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR bytes "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line) # CMake regexes have no {n}
string(REGEX REPLACE "(${line})" "\\1\n" body "${body}")
get_filename_component(name "${IN}" NAME)
file(WRITE "${OUT}.tmp"
  "/* Generated from ${name} by server/embed.cmake: do not edit. */\n"
  "#include <stddef.h>\n\n"
  "extern const unsigned char ${SYMBOL}[];\n"
  "extern const size_t ${SYMBOL}_len;\n\n"
  "const unsigned char ${SYMBOL}[] = {\n${body}\n};\n"
  "const size_t ${SYMBOL}_len = ${bytes};\n")
# Rewrite only on change, so an unchanged document rebuilds nothing.
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
