/* achan/oneshot.h - placeholder until the oneshot channel lands. */
#ifndef ACHAN_ONESHOT_H
#define ACHAN_ONESHOT_H
#include "achan/stream.h"
#endif
