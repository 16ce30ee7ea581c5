/* achan/watch.h - placeholder until the watch channel lands. */
#ifndef ACHAN_WATCH_H
#define ACHAN_WATCH_H
#include "achan/stream.h"
#endif
