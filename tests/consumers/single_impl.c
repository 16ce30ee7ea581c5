/* single_impl.c - the single header's implementation, compiled once, as
 * achan.h's opening comment says: ACHAN_IMPLEMENTATION, then achan.h before
 * any other header. Build options (ACHAN_ATOMICS_LIBATOMIC_OPS ...) come
 * from the command line. */
#define ACHAN_IMPLEMENTATION
#include "achan.h"
