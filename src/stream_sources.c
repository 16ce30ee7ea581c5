/* stream_sources.c - placeholder until the stream toolkit lands. */
#include "achan/stream.h"
typedef int achan__stream_sources_placeholder;
