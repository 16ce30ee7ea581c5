/* coop.h - the cooperative budget's thread state, for code that must save
 * and restore it exactly (achan_coop_set_budget's return value cannot tell
 * "unlimited" from "used up"). */
#ifndef ACHAN_COOP_H
#define ACHAN_COOP_H

#include <stdbool.h>

typedef struct achan__coop_state {
    bool limited;
    unsigned left;
} achan__coop_state;

/* Installs s as this thread's budget and returns the previous state. */
achan__coop_state achan__coop_swap(achan__coop_state s);

#endif /* ACHAN_COOP_H */
