/* stream_consumers.c - placeholder until the stream toolkit lands. */
#include "achan/stream.h"
typedef int achan__stream_consumers_placeholder;
