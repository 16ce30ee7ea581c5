/* typed_compile_fail.c - compiled by tests/typed_compile_fail.cmake once per
 * TYPED_CASE: case 0 is correct and must compile; every other case passes a
 * wrong type to a typed wrapper and must be rejected by the compiler. */
#include "achan/typed.h"

ACHAN_MPSC_TYPED(ints, int)
ACHAN_MPSC_TYPED(doubles, double)
ACHAN_ONESHOT_TYPED(one, int)
ACHAN_WATCH_TYPED(cfg, int)
ACHAN_BROADCAST_TYPED(bus, int)

int use(ints_sender *tx, ints_receiver *rx, doubles_sender *dtx, one_sender *otx,
        cfg_receiver *crx, bus_sender *btx);
int use(ints_sender *tx, ints_receiver *rx, doubles_sender *dtx, one_sender *otx,
        cfg_receiver *crx, bus_sender *btx) {
    int i = 1;
    long l = 2;
    double d = 3;
    (void)l;
    (void)d;
#if TYPED_CASE == 0
    ints_try_send(tx, &i);
    ints_recv_blocking(rx, &i, 0);
    doubles_try_send(dtx, &d);
    one_send(otx, &i);
    cfg_borrow(crx, &i);
    bus_send(btx, &i, NULL);
#elif TYPED_CASE == 1
    ints_try_send(tx, &l); /* long * for const int * */
#elif TYPED_CASE == 2
    ints_recv_blocking(rx, &d, 0); /* double * for int * */
#elif TYPED_CASE == 3
    doubles_try_send((doubles_sender *)0, &i), ints_try_send(dtx, &i); /* wrong channel's handle */
#elif TYPED_CASE == 4
    one_send(otx, &d);
#elif TYPED_CASE == 5
    cfg_borrow(crx, &l);
#elif TYPED_CASE == 6
    bus_send(btx, &d, NULL);
#endif
    (void)tx, (void)rx, (void)dtx, (void)otx, (void)crx, (void)btx, (void)i;
    return 0;
}
