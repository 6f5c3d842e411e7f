// hwq primitive: frame collector (deserialiser), BEATS narrow beats -> one wide beat.
//
// Beat k (0-based) of each group of BEATS input beats lands at m_axis_tdata[k*BEAT_WIDTH +: BEAT_WIDTH];
// frames follow each other back to back. The input beats are shifted into the output register from the
// top (no write decoder), so the wide beat is complete after the BEATS-th beat and m_axis_tvalid rises
// the cycle after. While a complete frame waits for m_axis_tready no input is taken; in the cycle the
// frame is taken the first beat of the next frame is accepted too, so without back-pressure one input
// beat flows per cycle (no bubble between frames). s_axis_tready is combinational
// (!m_axis_tvalid || m_axis_tready). BEATS = 1 is a plain pipeline register.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_frame_collect #
(
    // bits of one input beat
    parameter BEAT_WIDTH = 8,
    // input beats per output beat
    parameter BEATS = 4
)
(
    input  wire                          clk,
    input  wire                          rst,

    input  wire [BEAT_WIDTH-1:0]         s_axis_tdata,
    input  wire                          s_axis_tvalid,
    output wire                          s_axis_tready,

    output wire [BEATS*BEAT_WIDTH-1:0]   m_axis_tdata,
    output wire                          m_axis_tvalid,
    input  wire                          m_axis_tready
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

localparam CW = bits_for(BEATS - 1);
localparam [31:0] LAST_I = BEATS - 1;
localparam [CW-1:0] LAST = LAST_I[CW-1:0];

// synthesis translate_off
initial begin
    if (BEAT_WIDTH < 1 || BEATS < 1) begin
        $display("Error: hwq_frame_collect: BEAT_WIDTH and BEATS must be >= 1 (got %0d, %0d)", BEAT_WIDTH, BEATS);
        $finish;
    end
end
// synthesis translate_on

reg [BEATS*BEAT_WIDTH-1:0] data_reg, data_next;
reg                        valid_reg, valid_next;
// beats of the current frame taken so far
reg [CW-1:0]               count_reg, count_next;

assign m_axis_tdata = data_reg;
assign m_axis_tvalid = valid_reg;
assign s_axis_tready = !valid_reg || m_axis_tready;

wire s_fire = s_axis_tvalid && s_axis_tready;

// the register shifted down by one beat, the new beat on top
wire [BEATS*BEAT_WIDTH-1:0] shifted;
generate
    if (BEATS > 1) begin : g_shift
        assign shifted = {s_axis_tdata, data_reg[BEATS*BEAT_WIDTH-1:BEAT_WIDTH]};
    end else begin : g_single
        assign shifted = s_axis_tdata;
    end
endgenerate

always @* begin
    data_next = data_reg;
    count_next = count_reg;
    valid_next = valid_reg && !m_axis_tready;

    if (s_fire) begin
        data_next = shifted;
        if (count_reg == LAST) begin
            count_next = {CW{1'b0}};
            valid_next = 1'b1;
        end else begin
            count_next = count_reg + 1'b1;
        end
    end
end

always @(posedge clk) begin
    data_reg <= data_next;
    valid_reg <= valid_next;
    count_reg <= count_next;

    if (rst) begin
        valid_reg <= 1'b0;
        count_reg <= {CW{1'b0}};
    end
end

endmodule

`resetall
