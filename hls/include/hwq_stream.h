// hwq_stream.h -- stream plumbing of hwq-generated HLS projects built with the "stream" strategy.
//
// Part of hwq (Apache-2.0). Copied into firmware/ when the top function uses hls::stream ports.
// Every tensor crosses a stream as its flat C-order elements, one element per write.
#ifndef HWQ_STREAM_H_
#define HWQ_STREAM_H_

#include "hls_stream.h"
#include "hwq_hls.h"

// Copy N elements of a stream to K streams (a tensor read by several layers).
template <class T, int N, int K>
void hwq_fanout(hls::stream<T>& in, hls::stream<T> out[K]) {
    for (int i = 0; i < N; i++) {
        HWQ_PRAGMA(HLS PIPELINE II=1)
        const T v = in.read();
        for (int k = 0; k < K; k++) {
            out[k].write(v);
        }
    }
}

// Copy N elements from one stream to another (a graph input that is also a graph output).
template <class T, int N>
void hwq_copy(hls::stream<T>& in, hls::stream<T>& out) {
    for (int i = 0; i < N; i++) {
        HWQ_PRAGMA(HLS PIPELINE II=1)
        out.write(in.read());
    }
}

#endif  // HWQ_STREAM_H_
