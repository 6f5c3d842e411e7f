// hwq primitive: valid/ready FIFO (first-word fall-through), DEPTH entries of DATA_WIDTH bits.
//
// Used as the delay line of a skip path: a residual branch's line buffers hold many beats before their
// first output, and the FIFO on the other input of the join keeps those beats so that the fork feeding
// both paths never stalls for lack of room (the emitter sizes DEPTH from the window geometry of the
// longer path; see hwq.rtl.branch). s_axis_tready and m_axis_tvalid come from registers (an occupancy
// count), so the FIFO also cuts the ready path like hwq_skid_buffer. m_axis_tdata is the storage entry at
// the read pointer (an asynchronous read: distributed RAM or flip-flops). One beat per cycle in and out,
// also when full and read in the same cycle (the write then waits for the next cycle: s_axis_tready is
// low while full). Latency one cycle (a written entry is visible the next cycle).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_fifo #
(
    // data bits per beat
    parameter DATA_WIDTH = 8,
    // entries (>= 2)
    parameter DEPTH = 16
)
(
    input  wire                  clk,
    input  wire                  rst,

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,

    output wire [DATA_WIDTH-1:0] m_axis_tdata,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready
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

localparam AW = bits_for(DEPTH - 1);
localparam CW = bits_for(DEPTH);
localparam [31:0] LAST_I = DEPTH - 1;
localparam [AW-1:0] LAST = LAST_I[AW-1:0];
localparam [31:0] DEPTH_I = DEPTH;
localparam [CW-1:0] FULL = DEPTH_I[CW-1:0];

// synthesis translate_off
initial begin
    if (DATA_WIDTH < 1 || DEPTH < 2) begin
        $display("Error: hwq_fifo: DATA_WIDTH must be >= 1 and DEPTH >= 2 (got %0d, %0d)", DATA_WIDTH, DEPTH);
        $finish;
    end
end
// synthesis translate_on

reg [DATA_WIDTH-1:0] mem [0:DEPTH-1];
reg [AW-1:0] wr_reg;
reg [AW-1:0] rd_reg;
reg [CW-1:0] count_reg;

assign s_axis_tready = count_reg != FULL;
assign m_axis_tvalid = count_reg != {CW{1'b0}};
assign m_axis_tdata = mem[rd_reg];

wire push = s_axis_tvalid && s_axis_tready;
wire pop = m_axis_tvalid && m_axis_tready;

always @(posedge clk) begin
    if (push) begin
        mem[wr_reg] <= s_axis_tdata;
        wr_reg <= (wr_reg == LAST) ? {AW{1'b0}} : wr_reg + 1'b1;
    end
    if (pop) begin
        rd_reg <= (rd_reg == LAST) ? {AW{1'b0}} : rd_reg + 1'b1;
    end
    if (push && !pop) begin
        count_reg <= count_reg + 1'b1;
    end else if (pop && !push) begin
        count_reg <= count_reg - 1'b1;
    end
    if (rst) begin
        wr_reg <= {AW{1'b0}};
        rd_reg <= {AW{1'b0}};
        count_reg <= {CW{1'b0}};
    end
end

endmodule

`resetall
