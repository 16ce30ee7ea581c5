/* oneshot.c - placeholder until the oneshot channel lands. */
#include "achan/oneshot.h"
typedef int achan__oneshot_placeholder;
