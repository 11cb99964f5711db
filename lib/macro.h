/* macro.h: the few macros every module may use. */
#ifndef RD_MACRO_H
#define RD_MACRO_H

/* The number of elements of the array A (not a pointer). */
#define RD_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* A table indexed by an enum has exactly one entry per value: a new value
 * without its entry fails to compile. */
#define RD_TABLE_COVERS(table, max)                                                                \
        _Static_assert(RD_ELEMENTSOF(table) == (max), #table " must have one entry per value")

#endif
