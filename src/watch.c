/* watch.c - placeholder until the watch channel lands. */
#include "achan/watch.h"
typedef int achan__watch_placeholder;
