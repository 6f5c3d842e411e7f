// hwq primitive: sliding-window generator ("line buffer") for the padded streamed convolution and pooling
// layers that hwq_window_pad does not take: windows whose output grid is wider or taller than the input
// frame (e.g. a 2x2 kernel with one pad column on each side), whose first outputs lie wholly in the top or
// left padding (padding >= the kernel extent), or whose bottom border overlaps the next frame's first
// outputs. The padding is masked, never walked; an output pixel costs one cycle of its own only when it
// shares its emission position with the next one.
//
// Input, output and the meaning of every parameter are those of hwq_window: IN_H*IN_W input beats per
// frame (row-major, frames back to back, one beat = every channel of one pixel); one output beat per
// output pixel (row-major over the HO x WO grid), tap (a, b) of output pixel (i, j) being the input
// pixel (i*SH + a*DH - PAD_T, j*SW + b*DW - PAD_L) at m_axis_tdata[(a*KW + b)*PIXEL_WIDTH +: PIXEL_WIDTH],
// or 0 with m_axis_tpad[a*KW + b] set when that position is padding.
//
// How (the scheme of hwq_window_pad, generalised): a tapped shift register holds the last
// DEPTH = (KH-1)*DH*IN_W + (KW-1)*DW real pixels. Output pixel (i, j) belongs to position
// e(i, j) = (i*SH + (KH-1)*DH - PAD_T)*IN_W + j*SW + (KW-1)*DW - PAD_L (its bottom-right tap counted in real
// pixels; positions past the row or the frame alias later pixels, and every tap that is not a real pixel of
// the frame is masked to 0 from the output's row and column counters). It is emitted at the step of
// position max(e, 0): a tap at a negative position is always padding, so an output with e < 0 is all
// padding and may be emitted at position 0. Several outputs with the same emission position (e.g. the last
// of a row and the first of the next when SH*IN_W = (WO-1)*SW) are emitted one per cycle: every one but
// the last is a "hold" cycle that looks at the offered pixel of that position without taking it and does
// not shift. Positions e >= IN_H*IN_W are tail steps after the frame's last pixel; a tail step may take
// the next frame's pixels only while the next frame's first output (at max(E_FIRST, 0)) is still ahead
// (the last max(E_FIRST, 0) tail steps), else it shifts in a zero without waiting for input; once the next
// frame has started, a tail step waits for its pixel (the shift register must stay contiguous).
//
// Requirements (the emitter checks them, else it uses hwq_window, which walks the padded frame):
// E_FIRST < IN_H*IN_W and the emissions never go back: SH*IN_W >= (WO-1)*SW when HO > 1.
//
// Timing: m_axis_tvalid/tdata/tpad are registers. A cycle that emits needs the output register free or
// being taken (!m_axis_tvalid || m_axis_tready); every other step only needs its input beat, so
// s_axis_tready is combinational (put a hwq_skid_buffer in front to cut the path). Throughput without
// back-pressure, frames back to back: IN_H*IN_W + max(0, TAIL - max(E_FIRST, 0)) + HOLDS cycles per frame
// (TAIL = max(E_LAST - IN_H*IN_W + 1, 0) steps after the last pixel, HOLDS = output pixels minus distinct
// emission positions), never more than the output pixels plus the input pixels. Storage: DEPTH x PIXEL_WIDTH
// flip-flops (no pad flags stored), plus the output register.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_window_hold #
(
    // bits of one pixel (all channels of one (y, x) position)
    parameter PIXEL_WIDTH = 8,
    // input frame height (1 for Conv1d)
    parameter IN_H = 4,
    // input frame width
    parameter IN_W = 4,
    // window (kernel) height
    parameter KH = 2,
    // window (kernel) width
    parameter KW = 2,
    // vertical stride
    parameter SH = 1,
    // horizontal stride
    parameter SW = 1,
    // vertical dilation
    parameter DH = 1,
    // horizontal dilation
    parameter DW = 1,
    // zero rows above the frame
    parameter PAD_T = 1,
    // zero rows below the frame
    parameter PAD_B = 1,
    // zero columns left of the frame
    parameter PAD_L = 1,
    // zero columns right of the frame
    parameter PAD_R = 1
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

localparam HP = IN_H + PAD_T + PAD_B;
localparam WP = IN_W + PAD_L + PAD_R;
localparam EXT_H = DH * (KH - 1) + 1;
localparam EXT_W = DW * (KW - 1) + 1;
localparam HO = (HP >= EXT_H && SH >= 1) ? (HP - EXT_H) / SH + 1 : 0;
localparam WO = (WP >= EXT_W && SW >= 1) ? (WP - EXT_W) / SW + 1 : 0;
localparam TAPS = KH * KW;
localparam FRAME = IN_H * IN_W;
// stored real pixels: every tap but the newest
localparam DEPTH = (KH - 1) * DH * IN_W + (KW - 1) * DW;
// position of output pixel (0, 0) (may be negative), of the last one, and the steps between outputs
localparam integer E_FIRST = ((KH - 1) * DH - PAD_T) * IN_W + (KW - 1) * DW - PAD_L;
localparam integer E_LAST = E_FIRST + (HO - 1) * SH * IN_W + (WO - 1) * SW;
localparam integer E_ROW = SH * IN_W - (WO - 1) * SW;
// positions and emission positions are counted plus BIAS (>= 0 then); E0: the first emission's position
localparam integer BIAS = E_FIRST < 0 ? -E_FIRST : 0;
localparam integer E0 = E_FIRST < 0 ? 0 : E_FIRST;
// last step of a frame (the frame's last pixel or its last tail step) and the number of tail steps
localparam integer P_END = E_LAST > FRAME - 1 ? E_LAST : FRAME - 1;
localparam integer TAIL = P_END - (FRAME - 1);
// counter widths
localparam PW = bits_for(P_END + BIAS + 1);
localparam RW = bits_for((HO - 1) * SH);
localparam XW = bits_for((WO - 1) * SW);

localparam [31:0] E_FIRST_I = E_FIRST + BIAS;
localparam [31:0] E_ROW_I = E_ROW < 0 ? 0 : E_ROW;
localparam [31:0] SW_I = SW;
localparam [31:0] SH_I = SH;
localparam [31:0] BIAS_I = BIAS;
localparam [31:0] P_END_I = P_END + BIAS;
localparam [31:0] FRAME_M1_I = FRAME - 1 + BIAS;
localparam [31:0] TAKE_AFTER_I = P_END - E0 + BIAS;
localparam [31:0] LAST_RY_I = (HO - 1) * SH;
localparam [31:0] LAST_CX_I = (WO - 1) * SW;
localparam [PW-1:0] E_FIRST_C = E_FIRST_I[PW-1:0];
localparam [PW-1:0] E_ROW_C = E_ROW_I[PW-1:0];
localparam [PW-1:0] E_COL_C = SW_I[PW-1:0];
localparam [PW-1:0] BIAS_C = BIAS_I[PW-1:0];
localparam [PW-1:0] P_END_C = P_END_I[PW-1:0];
localparam [PW-1:0] FRAME_M1_C = FRAME_M1_I[PW-1:0];
localparam [PW-1:0] TAKE_AFTER_C = TAKE_AFTER_I[PW-1:0];
localparam [RW-1:0] STEP_Y_C = SH_I[RW-1:0];
localparam [XW-1:0] STEP_X_C = SW_I[XW-1:0];
localparam [RW-1:0] LAST_RY_C = LAST_RY_I[RW-1:0];
localparam [XW-1:0] LAST_CX_C = LAST_CX_I[XW-1:0];

// synthesis translate_off
initial begin
    if (PIXEL_WIDTH < 1 || IN_H < 1 || IN_W < 1 || KH < 1 || KW < 1 || SH < 1 || SW < 1 || DH < 1 || DW < 1
            || PAD_T < 0 || PAD_B < 0 || PAD_L < 0 || PAD_R < 0) begin
        $display("Error: hwq_window_hold: PIXEL_WIDTH, IN_H, IN_W, KH, KW, SH, SW, DH, DW must be >= 1 and paddings >= 0");
        $finish;
    end
    if (HO < 1 || WO < 1) begin
        $display("Error: hwq_window_hold: the %0dx%0d window (dilation %0dx%0d) does not fit the padded %0dx%0d frame",
            KH, KW, DH, DW, HP, WP);
        $finish;
    end
    if (E_FIRST >= FRAME || (HO > 1 && E_ROW < 0)) begin
        $display("Error: hwq_window_hold: geometry not supported (outputs out of order; use hwq_window)");
        $finish;
    end
end
// synthesis translate_on

// walk: position p + BIAS, next frame's pixels taken during the tail, next emission position + BIAS
reg [PW-1:0] p_reg, p_next;
reg [PW-1:0] q_reg, q_next;
reg [PW-1:0] e_reg, e_next;
reg          e_done_reg, e_done_next;
// the emitting output pixel: row i*SH and column j*SW in the padded frame
reg [RW-1:0] ry_reg, ry_next;
reg [XW-1:0] cx_reg, cx_next;

reg [TAPS*PIXEL_WIDTH-1:0] out_data_reg;
reg [TAPS-1:0]             out_pad_reg, out_pad_next;
reg                        out_valid_reg, out_valid_next;

assign m_axis_tdata = out_data_reg;
assign m_axis_tpad = out_pad_reg;
assign m_axis_tvalid = out_valid_reg;

// a tail step (after the frame's last pixel), and whether this step may take the offered pixel
wire tail;
wire take_ok;
generate
    if (TAIL > 0) begin : g_tail
        assign tail = p_reg > FRAME_M1_C;
        if (TAIL <= E0) begin : g_take_all
            assign take_ok = 1'b1;
        end else if (E0 == 0) begin : g_take_none
            assign take_ok = !tail;
        end else begin : g_take_last
            assign take_ok = !tail || p_reg > TAKE_AFTER_C;
        end
    end else begin : g_no_tail
        assign tail = 1'b0;
        assign take_ok = 1'b1;
    end
endgenerate

wire last_out = (cx_reg == LAST_CX_C) && (ry_reg == LAST_RY_C);
wire [PW-1:0] e_adv = (cx_reg == LAST_CX_C) ? e_reg + E_ROW_C : e_reg + E_COL_C;
wire emit = !e_done_reg && (e_reg <= p_reg);
// the next output has the same position: emit this one without stepping
wire hold = emit && !last_out && (e_adv <= p_reg);
wire out_free = !out_valid_reg || m_axis_tready;
wire go = !emit || out_free;
wire offered = s_axis_tvalid && take_ok;
// the position's pixel is there: offered, or a tail step that inserts a zero (next frame not started)
wire avail = offered || (tail && q_reg == {PW{1'b0}});
wire fire = go && avail;
wire step = fire && !hold;
wire take = step && offered;

assign s_axis_tready = go && !hold && take_ok;

wire [PIXEL_WIDTH-1:0] new_data = offered ? s_axis_tdata : {PIXEL_WIDTH{1'b0}};
wire [(DEPTH+1)*PIXEL_WIDTH-1:0] chain_data;

generate
    if (DEPTH > 0) begin : g_shift
        reg [DEPTH*PIXEL_WIDTH-1:0] sr_data_reg;
        assign chain_data = {sr_data_reg, new_data};
        always @(posedge clk) begin
            if (step) begin
                sr_data_reg <= chain_data[DEPTH*PIXEL_WIDTH-1:0];
            end
        end
    end else begin : g_no_shift
        assign chain_data = new_data;
    end
endgenerate

// per kernel row a / column b: does the emitting output pixel's tap fall inside the frame?
wire [KH-1:0] row_in;
wire [KW-1:0] col_in;
genvar ga, gb;
generate
    for (ga = 0; ga < KH; ga = ga + 1) begin : g_row_in
        // inside when PAD_T <= ry + ga*DH < PAD_T + IN_H
        localparam integer LO = PAD_T - ga * DH;
        localparam integer HI = PAD_T + IN_H - ga * DH;
        localparam [31:0] LO_I = LO;
        localparam [31:0] HI_I = HI;
        wire lo_ok, hi_ok;
        if (LO > (HO - 1) * SH) begin : g_lo_never
            assign lo_ok = 1'b0;
        end else if (LO > 0) begin : g_lo
            assign lo_ok = ry_reg >= LO_I[RW-1:0];
        end else begin : g_lo_always
            assign lo_ok = 1'b1;
        end
        if (HI <= 0) begin : g_hi_never
            assign hi_ok = 1'b0;
        end else if (HI > (HO - 1) * SH) begin : g_hi_always
            assign hi_ok = 1'b1;
        end else begin : g_hi
            assign hi_ok = ry_reg < HI_I[RW-1:0];
        end
        assign row_in[ga] = lo_ok && hi_ok;
    end
    for (gb = 0; gb < KW; gb = gb + 1) begin : g_col_in
        localparam integer LO = PAD_L - gb * DW;
        localparam integer HI = PAD_L + IN_W - gb * DW;
        localparam [31:0] LO_I = LO;
        localparam [31:0] HI_I = HI;
        wire lo_ok, hi_ok;
        if (LO > (WO - 1) * SW) begin : g_lo_never
            assign lo_ok = 1'b0;
        end else if (LO > 0) begin : g_lo
            assign lo_ok = cx_reg >= LO_I[XW-1:0];
        end else begin : g_lo_always
            assign lo_ok = 1'b1;
        end
        if (HI <= 0) begin : g_hi_never
            assign hi_ok = 1'b0;
        end else if (HI > (WO - 1) * SW) begin : g_hi_always
            assign hi_ok = 1'b1;
        end else begin : g_hi
            assign hi_ok = cx_reg < HI_I[XW-1:0];
        end
        assign col_in[gb] = lo_ok && hi_ok;
    end
endgenerate

// window taps: tap (a, b) is (KH-1-a)*DH*IN_W + (KW-1-b)*DW real pixels before the newest; outside -> 0.
// The output register loads every tap at an emission; a tap outside the frame is cleared instead, with
// the clear ahead of the load (a synchronous reset with priority over the clock enable, as a 7-series
// FDRE or an iCE40 SB_DFFESR has it), so masking costs one gate per tap, not one per data bit
wire [TAPS-1:0] win_pad;
wire            out_load = fire && emit;
generate
    for (ga = 0; ga < KH; ga = ga + 1) begin : g_row
        for (gb = 0; gb < KW; gb = gb + 1) begin : g_col
            localparam OFS = (KH - 1 - ga) * DH * IN_W + (KW - 1 - gb) * DW;
            wire tap_in = row_in[ga] && col_in[gb];
            wire tap_clear = out_load && !tap_in;
            assign win_pad[ga*KW + gb] = !tap_in;
            always @(posedge clk) begin
                if (tap_clear) begin
                    out_data_reg[(ga*KW + gb)*PIXEL_WIDTH +: PIXEL_WIDTH] <= {PIXEL_WIDTH{1'b0}};
                end else if (out_load) begin
                    out_data_reg[(ga*KW + gb)*PIXEL_WIDTH +: PIXEL_WIDTH] <= chain_data[OFS*PIXEL_WIDTH +: PIXEL_WIDTH];
                end
            end
        end
    end
endgenerate

always @* begin
    p_next = p_reg;
    q_next = q_reg;
    e_next = e_reg;
    e_done_next = e_done_reg;
    ry_next = ry_reg;
    cx_next = cx_reg;
    out_pad_next = out_pad_reg;
    out_valid_next = out_valid_reg && !m_axis_tready;

    if (fire && emit) begin
        out_pad_next = win_pad;
        out_valid_next = 1'b1;
        if (last_out) begin
            e_done_next = 1'b1;
        end else begin
            e_next = e_adv;
            if (cx_reg == LAST_CX_C) begin
                cx_next = {XW{1'b0}};
                ry_next = ry_reg + STEP_Y_C;
            end else begin
                cx_next = cx_reg + STEP_X_C;
            end
        end
    end
    if (step) begin
        if (p_reg == P_END_C) begin
            // end of the frame: the next frame continues after the pixels taken during the tail
            p_next = BIAS_C + (tail ? q_reg + {{(PW-1){1'b0}}, take} : {PW{1'b0}});
            q_next = {PW{1'b0}};
            e_next = E_FIRST_C;
            e_done_next = 1'b0;
            ry_next = {RW{1'b0}};
            cx_next = {XW{1'b0}};
        end else begin
            p_next = p_reg + 1'b1;
            if (tail && take) begin
                q_next = q_reg + 1'b1;
            end
        end
    end
end

always @(posedge clk) begin
    p_reg <= p_next;
    q_reg <= q_next;
    e_reg <= e_next;
    e_done_reg <= e_done_next;
    ry_reg <= ry_next;
    cx_reg <= cx_next;
    out_pad_reg <= out_pad_next;
    out_valid_reg <= out_valid_next;

    if (rst) begin
        p_reg <= BIAS_C;
        q_reg <= {PW{1'b0}};
        e_reg <= E_FIRST_C;
        e_done_reg <= 1'b0;
        ry_reg <= {RW{1'b0}};
        cx_reg <= {XW{1'b0}};
        out_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
