/* broadcast.c - placeholder until the broadcast channel lands. */
#include "achan/broadcast.h"
typedef int achan__broadcast_placeholder;
