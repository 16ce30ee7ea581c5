/* select.c - placeholder until the stream toolkit lands. */
#include "achan/stream.h"
typedef int achan__select_placeholder;
