/* Small helpers shared by every module. */
#ifndef NF_UTIL_H
#define NF_UTIL_H

#include <stddef.h>

#define NF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recover the enclosing struct from a pointer to one of its members. */
#define nf_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
