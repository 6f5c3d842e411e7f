// hwq primitive: sliding-window generator ("line buffer") for streamed convolution and pooling layers.
//
// Input: the pixels of a frame in row-major order (y, then x), IN_H*IN_W beats per frame, frames back
// to back; one beat carries every channel of one (y, x) position (PIXEL_WIDTH bits).
// Output: one beat per output pixel, row-major over the HO x WO output grid, where (floor division, as
// torch does it)
//     HO = (IN_H + PAD_T + PAD_B - DH*(KH-1) - 1)/SH + 1,   WO = (IN_W + PAD_L + PAD_R - DW*(KW-1) - 1)/SW + 1.
// Tap (a, b) (kernel row a, kernel column b) of output pixel (i, j) is the input pixel
//     (y, x) = (i*SH + a*DH - PAD_T, j*SW + b*DW - PAD_L)
// at m_axis_tdata[(a*KW + b)*PIXEL_WIDTH +: PIXEL_WIDTH]. A tap outside the frame (padding) holds 0 and
// sets m_axis_tpad[a*KW + b]; every other tpad bit is 0.
//
// How: the block walks the padded frame, (IN_H+PAD_T+PAD_B) x (IN_W+PAD_L+PAD_R) positions, one position
// per step. A pad position shifts a zero (pad flag 1) into a tapped shift register without consuming
// input; a real position consumes one input beat. The shift register keeps the last
// (KH-1)*DH*WP + (KW-1)*DW positions (WP: padded width); together with the position being shifted in they
// hold every tap of the window whose bottom-right tap that position is. Counters compared with constants
// (no division or modulo in hardware) decide when a window is complete: its output pixel is loaded into
// the registered output. Pad positions after the last real pixel of a frame (bottom and right padding)
// and the top padding rows of the next frame are walked without waiting for input, so the last output
// of a frame never waits for the next frame.
//
// Timing: m_axis_tvalid/tdata/tpad are registers (latency one cycle from the step that completes a
// window). A step that completes a window needs the output register free or being taken
// (!m_axis_tvalid || m_axis_tready); other steps only need their input beat, so the shift register keeps
// filling while the output stalls. s_axis_tready is combinational (it depends on m_axis_tready and on
// the walk position); put a hwq_skid_buffer in front to cut that path. Throughput without back-pressure:
// one position per cycle, i.e. one input beat per cycle on real positions and one cycle for each pad
// position (IN_H*IN_W input beats per (IN_H+PAD_T+PAD_B)*(IN_W+PAD_L+PAD_R) cycles, frames back to back).
// Storage: (KH-1)*DH*WP + (KW-1)*DW entries of PIXEL_WIDTH+1 flip-flops, plus the output register.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_window #
(
    // bits of one pixel (all channels of one (y, x) position)
    parameter PIXEL_WIDTH = 8,
    // input frame height (1 for Conv1d)
    parameter IN_H = 4,
    // input frame width
    parameter IN_W = 4,
    // window (kernel) height
    parameter KH = 3,
    // window (kernel) width
    parameter KW = 3,
    // vertical stride
    parameter SH = 1,
    // horizontal stride
    parameter SW = 1,
    // vertical dilation
    parameter DH = 1,
    // horizontal dilation
    parameter DW = 1,
    // zero rows above the frame
    parameter PAD_T = 0,
    // zero rows below the frame
    parameter PAD_B = 0,
    // zero columns left of the frame
    parameter PAD_L = 0,
    // zero columns right of the frame
    parameter PAD_R = 0
)
(
    input  wire                            clk,
    input  wire                            rst,

    input  wire [PIXEL_WIDTH-1:0]          s_axis_tdata,
    input  wire                            s_axis_tvalid,
    output wire                            s_axis_tready,

    output wire [KH*KW*PIXEL_WIDTH-1:0]    m_axis_tdata,
    output wire [KH*KW-1:0]                m_axis_tpad,
    output wire                            m_axis_tvalid,
    input  wire                            m_axis_tready
);

// bits needed to hold the value v (at least 1)
function integer bits_for;
    input integer v;
    integer r;
    begin
        r = 1;
        while (r < 31 && (v >> r) != 0) r = r + 1;
        bits_for = r;
    end
endfunction

// padded frame height and width
localparam HP = IN_H + PAD_T + PAD_B;
localparam WP = IN_W + PAD_L + PAD_R;
// extent of the (dilated) window
localparam EXT_H = DH * (KH - 1) + 1;
localparam EXT_W = DW * (KW - 1) + 1;
// output grid (0 when the window does not fit: rejected below)
localparam HO = (HP >= EXT_H && SH >= 1) ? (HP - EXT_H) / SH + 1 : 0;
localparam WO = (WP >= EXT_W && SW >= 1) ? (WP - EXT_W) / SW + 1 : 0;
localparam TAPS = KH * KW;
// stored positions: every tap but the newest (which is the position being shifted in)
localparam DEPTH = (KH - 1) * DH * WP + (KW - 1) * DW;
// width of the walk counters
localparam CW = bits_for(HP > WP ? HP : WP);

// rows / columns (of the padded frame) holding bottom-right taps of the first and last output pixels,
// steps between emitting rows / columns, last row / column of the padded frame, and the real (non-pad)
// rows PAD_T .. PAD_T+IN_H-1 and columns PAD_L .. PAD_L+IN_W-1; 32-bit values, then CW-bit constants
localparam [31:0] FIRST_Y_I = EXT_H - 1;
localparam [31:0] LAST_Y_I = EXT_H - 1 + (HO - 1) * SH;
localparam [31:0] FIRST_X_I = EXT_W - 1;
localparam [31:0] LAST_X_I = EXT_W - 1 + (WO - 1) * SW;
localparam [31:0] STEP_Y_I = SH;
localparam [31:0] STEP_X_I = SW;
localparam [31:0] LAST_ROW_I = HP - 1;
localparam [31:0] LAST_COL_I = WP - 1;
localparam [31:0] Y_BEGIN_I = PAD_T;
localparam [31:0] Y_END_I = PAD_T + IN_H;
localparam [31:0] X_BEGIN_I = PAD_L;
localparam [31:0] X_END_I = PAD_L + IN_W;
localparam [CW-1:0] FIRST_Y = FIRST_Y_I[CW-1:0];
localparam [CW-1:0] LAST_Y = LAST_Y_I[CW-1:0];
localparam [CW-1:0] FIRST_X = FIRST_X_I[CW-1:0];
localparam [CW-1:0] LAST_X = LAST_X_I[CW-1:0];
localparam [CW-1:0] STEP_Y = STEP_Y_I[CW-1:0];
localparam [CW-1:0] STEP_X = STEP_X_I[CW-1:0];
localparam [CW-1:0] LAST_ROW = LAST_ROW_I[CW-1:0];
localparam [CW-1:0] LAST_COL = LAST_COL_I[CW-1:0];
localparam [CW-1:0] Y_BEGIN = Y_BEGIN_I[CW-1:0];
localparam [CW-1:0] Y_END = Y_END_I[CW-1:0];
localparam [CW-1:0] X_BEGIN = X_BEGIN_I[CW-1:0];
localparam [CW-1:0] X_END = X_END_I[CW-1:0];

// synthesis translate_off
initial begin
    if (PIXEL_WIDTH < 1 || IN_H < 1 || IN_W < 1 || KH < 1 || KW < 1 || SH < 1 || SW < 1 || DH < 1 || DW < 1
            || PAD_T < 0 || PAD_B < 0 || PAD_L < 0 || PAD_R < 0) begin
        $display("Error: hwq_window: PIXEL_WIDTH, IN_H, IN_W, KH, KW, SH, SW, DH, DW must be >= 1 and paddings >= 0");
        $finish;
    end
    if (HO < 1 || WO < 1) begin
        $display("Error: hwq_window: the %0dx%0d window (dilation %0dx%0d) does not fit the padded %0dx%0d frame",
            KH, KW, DH, DW, HP, WP);
        $finish;
    end
end
// synthesis translate_on

// walk position in the padded frame; next emitting row/column; rows/columns done for this frame/row
reg [CW-1:0] y_reg, y_next;
reg [CW-1:0] x_reg, x_next;
reg [CW-1:0] ty_reg, ty_next;
reg [CW-1:0] tx_reg, tx_next;
reg          y_done_reg, y_done_next;
reg          x_done_reg, x_done_next;

reg [TAPS*PIXEL_WIDTH-1:0] out_data_reg, out_data_next;
reg [TAPS-1:0]             out_pad_reg, out_pad_next;
reg                        out_valid_reg, out_valid_next;

assign m_axis_tdata = out_data_reg;
assign m_axis_tpad = out_pad_reg;
assign m_axis_tvalid = out_valid_reg;

// the position under the walk is a real pixel (else padding)
wire y_lo_ok, y_hi_ok, x_lo_ok, x_hi_ok;
generate
    if (PAD_T > 0) begin : g_pad_t
        assign y_lo_ok = y_reg >= Y_BEGIN;
    end else begin : g_no_pad_t
        assign y_lo_ok = 1'b1;
    end
    if (PAD_B > 0) begin : g_pad_b
        assign y_hi_ok = y_reg < Y_END;
    end else begin : g_no_pad_b
        assign y_hi_ok = 1'b1;
    end
    if (PAD_L > 0) begin : g_pad_l
        assign x_lo_ok = x_reg >= X_BEGIN;
    end else begin : g_no_pad_l
        assign x_lo_ok = 1'b1;
    end
    if (PAD_R > 0) begin : g_pad_r
        assign x_hi_ok = x_reg < X_END;
    end else begin : g_no_pad_r
        assign x_hi_ok = 1'b1;
    end
endgenerate
wire real_pos = y_lo_ok && y_hi_ok && x_lo_ok && x_hi_ok;

// the position under the walk is the bottom-right tap of an output pixel
wire emit = (y_reg == ty_reg) && !y_done_reg && (x_reg == tx_reg) && !x_done_reg;
wire out_free = !out_valid_reg || m_axis_tready;
wire step = (!emit || out_free) && (!real_pos || s_axis_tvalid);

assign s_axis_tready = real_pos && (!emit || out_free);

// the newest position (entry 0 of the chain) followed by the stored ones (entry k: k positions older)
wire [PIXEL_WIDTH-1:0] new_data = real_pos ? s_axis_tdata : {PIXEL_WIDTH{1'b0}};
wire                   new_pad = !real_pos;
wire [(DEPTH+1)*PIXEL_WIDTH-1:0] chain_data;
wire [DEPTH:0]                   chain_pad;

generate
    if (DEPTH > 0) begin : g_shift
        reg [DEPTH*PIXEL_WIDTH-1:0] sr_data_reg;
        reg [DEPTH-1:0]             sr_pad_reg;
        assign chain_data = {sr_data_reg, new_data};
        assign chain_pad = {sr_pad_reg, new_pad};
        // shift one position per step; the oldest position drops out
        always @(posedge clk) begin
            if (step) begin
                sr_data_reg <= chain_data[DEPTH*PIXEL_WIDTH-1:0];
                sr_pad_reg <= chain_pad[DEPTH-1:0];
            end
        end
    end else begin : g_no_shift
        assign chain_data = new_data;
        assign chain_pad = new_pad;
    end
endgenerate

// window taps: tap (a, b) is (KH-1-a)*DH rows and (KW-1-b)*DW columns before the newest position
wire [TAPS*PIXEL_WIDTH-1:0] win_data;
wire [TAPS-1:0]             win_pad;

genvar ga, gb;
generate
    for (ga = 0; ga < KH; ga = ga + 1) begin : g_row
        for (gb = 0; gb < KW; gb = gb + 1) begin : g_col
            localparam OFS = (KH - 1 - ga) * DH * WP + (KW - 1 - gb) * DW;
            assign win_data[(ga*KW + gb)*PIXEL_WIDTH +: PIXEL_WIDTH] = chain_data[OFS*PIXEL_WIDTH +: PIXEL_WIDTH];
            assign win_pad[ga*KW + gb] = chain_pad[OFS];
        end
    end
endgenerate

always @* begin
    y_next = y_reg;
    x_next = x_reg;
    ty_next = ty_reg;
    tx_next = tx_reg;
    y_done_next = y_done_reg;
    x_done_next = x_done_reg;
    out_data_next = out_data_reg;
    out_pad_next = out_pad_reg;
    out_valid_next = out_valid_reg && !m_axis_tready;

    if (step) begin
        if (emit) begin
            out_data_next = win_data;
            out_pad_next = win_pad;
            out_valid_next = 1'b1;
        end
        // next emitting column of this row
        if (x_reg == tx_reg && !x_done_reg) begin
            if (tx_reg == LAST_X) begin
                x_done_next = 1'b1;
            end else begin
                tx_next = tx_reg + STEP_X;
            end
        end
        if (x_reg == LAST_COL) begin
            // end of a row: next emitting row, column state for the next row
            x_next = {CW{1'b0}};
            tx_next = FIRST_X;
            x_done_next = 1'b0;
            if (y_reg == ty_reg && !y_done_reg) begin
                if (ty_reg == LAST_Y) begin
                    y_done_next = 1'b1;
                end else begin
                    ty_next = ty_reg + STEP_Y;
                end
            end
            if (y_reg == LAST_ROW) begin
                // end of the frame
                y_next = {CW{1'b0}};
                ty_next = FIRST_Y;
                y_done_next = 1'b0;
            end else begin
                y_next = y_reg + 1'b1;
            end
        end else begin
            x_next = x_reg + 1'b1;
        end
    end
end

always @(posedge clk) begin
    y_reg <= y_next;
    x_reg <= x_next;
    ty_reg <= ty_next;
    tx_reg <= tx_next;
    y_done_reg <= y_done_next;
    x_done_reg <= x_done_next;
    out_data_reg <= out_data_next;
    out_pad_reg <= out_pad_next;
    out_valid_reg <= out_valid_next;

    if (rst) begin
        y_reg <= {CW{1'b0}};
        x_reg <= {CW{1'b0}};
        ty_reg <= FIRST_Y;
        tx_reg <= FIRST_X;
        y_done_reg <= 1'b0;
        x_done_reg <= 1'b0;
        out_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
