#include <achan/achan.h>
#include <stdio.h>

int main(void) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int), .capacity = 16};
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK) return 1;
    for (int i = 1; i <= 3; i++) achan_mpsc_send_blocking(tx, &i, -1);
    achan_mpsc_sender_drop(tx);            /* last sender gone: the stream ends after the items */
    achan_stream *s = achan_mpsc_receiver_stream(rx);   /* the receiver is a stream */
    int v;
    while (achan_stream_next_blocking(s, &v, -1) == ACHAN_OK) printf("got %d\n", v);
    achan_stream_drop(s);                  /* drops the receiver */
}
