// hwq primitive: one value's pipeline taps (a delay line whose stages follow the layer's PIPELINE rule).
//
// A layer module registers a value at every stage b (FIRST <= b <= LAST) it stays live through: stage b
// is a register when b is a multiple of PIPE_EVERY or b is LEVELS (the output register), else a wire,
// exactly as the layer's own per-stage registers. q holds the value after each stage, stage b at bits
// [(b - FIRST) x WIDTH +: WIDTH]. Used for values that live through many stages (deep ordered chains),
// so the emitted text grows with the number of values, not values x stages.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_taps #
(
    parameter WIDTH = 1,       // bits of the value
    parameter FIRST = 1,       // first stage the value passes through
    parameter LAST = 1,        // last stage (LAST >= FIRST)
    parameter TOTAL = 1,       // WIDTH x (LAST - FIRST + 1): the bits of q
    parameter LEVELS = 1,      // the layer's output register stage
    parameter PIPE_EVERY = 1   // a stage is a register when its index is a multiple of this
)
(
    input  wire              clk,
    input  wire              ce,
    input  wire [WIDTH-1:0]  d,
    output wire [TOTAL-1:0]  q
);

// synthesis translate_off
initial begin
    if (WIDTH < 1 || FIRST < 1 || LAST < FIRST || PIPE_EVERY < 1 || TOTAL % WIDTH != 0
        || TOTAL / WIDTH != LAST - FIRST + 1) begin
        $display("Error: hwq_taps: need WIDTH >= 1, 1 <= FIRST <= LAST, PIPE_EVERY >= 1, TOTAL = WIDTH x stages");
        $finish;
    end
end
// synthesis translate_on

// o: bit offset of stage FIRST + o / WIDTH in q
genvar o;
generate
    for (o = 0; o < TOTAL; o = o + WIDTH) begin : g_stage
        wire [WIDTH-1:0] in_b;
        if (o == 0) begin : g_first
            assign in_b = d;
        end else begin : g_next
            assign in_b = q[o - WIDTH +: WIDTH];
        end
        if (((FIRST + o / WIDTH) % PIPE_EVERY) == 0 || (FIRST + o / WIDTH) == LEVELS) begin : g_reg
            reg [WIDTH-1:0] r;
            always @(posedge clk) begin
                if (ce) begin
                    r <= in_b;
                end
            end
            assign q[o +: WIDTH] = r;
        end else begin : g_wire
            assign q[o +: WIDTH] = in_b;
        end
    end
endgenerate

endmodule

`resetall
