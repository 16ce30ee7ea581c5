/* achan/broadcast.h - placeholder until the broadcast channel lands. */
#ifndef ACHAN_BROADCAST_H
#define ACHAN_BROADCAST_H
#include "achan/stream.h"
#endif
