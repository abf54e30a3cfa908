/* Just enough JSON output for the `--json` flags of uml-nf's subcommands. */
#ifndef NF_JSON_H
#define NF_JSON_H

#include <stdio.h>

/* Writes s as a JSON string (quotes included) to f: ", \ and control
 * characters escaped; bytes >= 0x80 pass through (UTF-8 stays UTF-8). */
void js_str(FILE *f, const char *s);

/* The same for the first n bytes of s (which may hold NULs: escaped). */
void js_strn(FILE *f, const char *s, size_t n);

#endif
